"""The vehicle-model catalogue (车型库): staff confirm a vehicle's model from it before quoting
("查询、交互车型后才可报价"). Loaded from a file with `renewals vehicle-models import FILE`."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Numeric
from sqlmodel import Field, SQLModel

from models.base import timestamp, uuid_pk


class VehicleModel(SQLModel, table=True):
    __tablename__ = "vehicle_model"
    id: uuid.UUID = uuid_pk()
    code: str = Field(unique=True, max_length=64)  # the manufacturer's model code (车型代码)
    name: str = Field(max_length=128, index=True)
    brand: str = Field(max_length=64)
    seats: int
    purchase_price: Decimal = Field(sa_type=Numeric(12, 2))  # 新车购置价 (CNY)
    imported_at: datetime = timestamp(default_now=True)
