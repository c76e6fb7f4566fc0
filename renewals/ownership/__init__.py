"""Who serves each policy: assigning the unassigned, moving a book, reassigning a case."""
