"""SQLModel tables (SPEC §4). Importing this package registers every table on SQLModel.metadata."""

from models.audit import HistoryArchive, RefusedAction
from models.org import Branch, Role, Staff, StaffQuoteConfig, SubBranch
from models.policy import Assignment, Customer, Policy, PolicyChannel, Vehicle
from models.renewal import ContactRecord, ImportJob, Note, Quote, RenewalCase, Task, TaskKind, TaskState

__all__ = [
    "Assignment", "Branch", "ContactRecord", "Customer", "HistoryArchive", "ImportJob", "Note", "Policy",
    "PolicyChannel", "RefusedAction",
    "Quote", "RenewalCase", "Role", "Staff", "StaffQuoteConfig", "SubBranch", "Task", "TaskKind",
    "TaskState", "Vehicle",
]
