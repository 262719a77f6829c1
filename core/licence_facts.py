"""The facts a licence pre-flight turns on, as one typed block.

Licences turn on facts the model files do not carry: how many monthly active users the
licensee has (Llama 3.x: 700M), who the licensee is (a company's staff do not do
"research" under the Mistral Research Licence), where it is (the Llama 3.2 / 4 use policy
withholds the multimodal models from EU-based licensees), whether the student is hosted
for others, and which licence it will be released under. ``PreflightFacts`` is the
``preflight:`` block of a distill config and the base of ``audit``'s ``PreflightRequest``;
the CLI flags of ``stillhouse licenses check`` fill the same fields.

    facts = PreflightFacts(mau=5_000, entity="company", region="de")
    facts.region, in_eu(facts.region)      # ('DE', True)

A fact left out stays ``None``: the pre-flight then names the flag to give instead of
guessing. ``fact_problems`` lists every bad value at once (the CLI prints one line each).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Entity = Literal["company", "academic", "individual", "government", "nonprofit"]
StudentType = Literal["llm", "classifier", "embedding", "other"]
ENTITIES: tuple[str, ...] = ("company", "academic", "individual", "government", "nonprofit")
STUDENT_TYPES: tuple[str, ...] = ("llm", "classifier", "embedding", "other")

EU_MEMBERS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
# ISO 3166-1 alpha-2, officially assigned codes (249).
ISO_3166 = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW""".split()
)


def in_eu(region: str | None) -> bool | None:
    """True for ``EU`` or an EU member state, False for another code, None when not given."""
    if region is None:
        return None
    code = region.strip().upper()
    return code == "EU" or code in EU_MEMBERS


def region_problem(region: str | None) -> str | None:
    """One line saying why ``region`` is not an ISO 3166 alpha-2 code or ``EU``; None if fine."""
    if region is None:
        return None
    code = region.strip().upper()
    if code == "EU" or code in ISO_3166:
        return None
    return f"--region {region!r} is not an ISO 3166 alpha-2 country code (e.g. DE, US) or EU"


def fact_problems(
    *,
    mau: int | None = None,
    entity: str | None = None,
    region: str | None = None,
    student_type: str | None = None,
    internal: bool = False,
    hosted: bool = False,
) -> list[str]:
    """Every bad or conflicting fact, one line each (empty when all are fine)."""
    problems = []
    if mau is not None and mau < 0:
        problems.append(f"--mau must be 0 or more, not {mau}")
    if entity is not None and entity not in ENTITIES:
        problems.append(f"--entity must be one of {', '.join(ENTITIES)}, not {entity!r}")
    if (bad := region_problem(region)) is not None:
        problems.append(bad)
    if student_type is not None and student_type not in STUDENT_TYPES:
        problems.append(
            f"--student-type must be one of {', '.join(STUDENT_TYPES)}, not {student_type!r}"
        )
    if internal and hosted:
        problems.append(
            "--internal and --hosted conflict: a hosted student is made available to others"
        )
    return problems


class PreflightFacts(BaseModel):
    """The facts about the licensee and the release that licence rules turn on."""

    model_config = ConfigDict(extra="forbid")

    teacher_licenses: list[str] = Field(
        default_factory=list,
        description="Licence ids of further teachers whose outputs also reach the student.",
    )
    mau: int | None = Field(
        default=None,
        description="The licensee's monthly active users (for thresholds such as Llama's 700M); "
        "null when not given.",
    )
    entity: Entity | None = Field(
        default=None,
        description="Who the licensee is: company, academic, individual, government or "
        "nonprofit; null when not given.",
    )
    region: str | None = Field(
        default=None,
        description="Where the licensee is: an ISO 3166 alpha-2 code, or EU (member states "
        "count as EU); null when not given.",
    )
    hosted: bool = Field(
        default=False, description="True when the student is offered to others as a service."
    )
    internal: bool = Field(
        default=False, description="True when the student is never distributed or made available."
    )
    release_license: str | None = Field(
        default=None, description="Licence id the student will be published under."
    )
    student_type: StudentType = Field(
        default="llm", description="What the student is: llm, classifier, embedding or other."
    )
    teacher_multimodal: bool = Field(
        default=False,
        description="True when a teacher is a multimodal model (e.g. Llama 3.2 Vision); "
        "implied for Llama 4.",
    )

    @field_validator("region")
    @classmethod
    def _upper_region(cls, value: str | None) -> str | None:
        return value.strip().upper() if value is not None else None

    @model_validator(mode="after")
    def _facts_make_sense(self) -> PreflightFacts:
        problems = fact_problems(
            mau=self.mau, region=self.region, internal=self.internal, hosted=self.hosted
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self
