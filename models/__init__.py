"""SQLModel tables (SPEC §4). Importing this package registers every table on SQLModel.metadata."""

from models.audit import HistoryArchive, RefusedAction
from models.imports import ImportUpload
from models.inbound_sms import InboundSms
from models.org import Branch, Role, Staff, StaffQuoteConfig, SubBranch
from models.policy import Assignment, Customer, Policy, PolicyChannel, Vehicle
from models.privacy import PrivacyRequest, SensitiveView
from models.renewal import (
    ContactRecord, IdempotencyKey, ImportJob, Note, Quote, QuoteWish, RenewalCase, SigningIntent, Task, TaskState,
)
from models.scoring import LapseModel, LapseScore, StaffAbsence
from models.sign_in import SignInThrottle
from models.sms_template import SmsTemplate
from models.task_day import RolledTaskDay, TaskDay
from models.vehicle_model import VehicleModel

__all__ = [
    "Assignment", "Branch", "ContactRecord", "Customer", "HistoryArchive", "IdempotencyKey", "ImportJob",
    "ImportUpload", "InboundSms", "LapseModel", "LapseScore", "Note", "Policy", "PolicyChannel", "PrivacyRequest",
    "Quote", "QuoteWish", "RefusedAction", "RenewalCase", "Role", "RolledTaskDay", "SensitiveView", "SignInThrottle",
    "SigningIntent", "SmsTemplate", "Staff", "StaffAbsence", "StaffQuoteConfig",
    "SubBranch", "Task", "TaskDay", "TaskState", "Vehicle", "VehicleModel",
]
