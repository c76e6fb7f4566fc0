"""A renewal case: the stage table and calendar, task planning, labels, consent, SMS texts, what staff do to a case outside the workflow, and how a case starts."""
