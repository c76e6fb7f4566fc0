"""The unified customer view (统一客户视图): basic data, vehicles, family, policies with claims,
renewal cases and the whole contact history, masked for whoever may not see it in full."""

from __future__ import annotations

from fastapi import APIRouter

from api.access import ReadableCustomer, customer_visibility
from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep
from api.errors import error_responses
from api.schemas import CustomerView
from api.views import customer_view
from renewals.intake.service import local_today

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get("/{customer_id}", summary="The unified customer view", response_model=CustomerView,
            responses=error_responses(401, 403, 404, 422),
            description="Phones in full only for the current owner of one of the customer's open cases; the "
                        "corrected phone only for the manager who entered it; the id number always masked but "
                        "the last 4; family members' and the proxy's phones as the customer's, their names only for "
                        "identity readers; free text (SMS bodies, notes) masked alike: id numbers for everyone, "
                        "phones for all but the owner, names, plates and VINs for auditors.")
def get_customer(customer: ReadableCustomer, staff: CurrentStaff, session: SessionDep, settings: SettingsDep,
                 now: NowDep) -> CustomerView:
    return customer_view(session, customer, customer_visibility(session, staff, customer), local_today(settings, now))
