"""Field types shared by the wire models: text a database can hold, names, numbers.

Every string that reaches a column is checked here: no NUL (PostgreSQL's text cannot
hold one) and no lone surrogate (not encodable as UTF-8), with a length the column
holds; every integer is a JSON integer (``true`` is not 1) within an INTEGER column.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

#: The largest value an INTEGER column holds on every supported database.
INT32_MAX = 2**31 - 1


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (a lone surrogate is not)") from None
    return value


Text255 = Annotated[str, Field(max_length=255), AfterValidator(_storable)]
Text4000 = Annotated[str, Field(max_length=4000), AfterValidator(_storable)]
#: A resource name: letters, digits and ``._:-``, starting with a letter or digit.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
Name = Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
#: A server name doubles as a libvirt domain name: no ``:``.
SERVER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
ServerName = Annotated[str, Field(min_length=1, max_length=63, pattern=SERVER_NAME_PATTERN)]
Count = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]
Positive = Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]
ExtraSpecs = dict[
    Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_storable)],
    Annotated[str, Field(max_length=1024), AfterValidator(_storable)],
]


class Strict(BaseModel):
    """A request body: unknown keys are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """A response body: immutable once parsed; unknown keys from a newer API are kept out."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class ErrorItem(Answer):
    status: str
    code: str
    title: str
    detail: str


class ErrorBody(Answer):
    """Every error answer: ``{"errors": [{"status", "code", "title", "detail"}]}``."""

    errors: list[ErrorItem]


class Health(Answer):
    status: str
    database: str
