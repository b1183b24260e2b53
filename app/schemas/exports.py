"""Export data dictionary: the documented shape of every de-identified export column."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ColumnDescription(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "day",
                    "type": "float64",
                    "unit": "day",
                    "description": "Days since the start of infusion 1, negative before it.",
                    "deidentification": "Replaces every date.",
                    "nullable": True,
                }
            ]
        }
    )

    name: str
    type: str = Field(description="string, int32, float64, bool or list<string>.")
    unit: str | None
    description: str
    deidentification: str = Field(description="The Safe Harbor rule applied to the column.")
    nullable: bool


class DataDictionary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rows": "One row per current, non-retracted version of a response.",
                    "order": "patient_id, then day, then response_id.",
                    "formats": {"csv": "UTF-8, comma-separated, header row."},
                    "columns": [
                        {
                            "name": "patient_id",
                            "type": "string",
                            "unit": None,
                            "description": "The patient's random UUID.",
                            "deidentification": "Replaces the pseudonym, never exported.",
                            "nullable": False,
                        }
                    ],
                }
            ]
        }
    )

    rows: str = Field(examples=["One row per current, non-retracted version of a response."])
    order: str = Field(examples=["patient_id, then day, then response_id."])
    formats: dict[str, str] = Field(examples=[{"csv": "UTF-8, comma-separated, header row."}])
    columns: list[ColumnDescription]
