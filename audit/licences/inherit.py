"""What the student inherits: obligations from each licence, and the release licence's fit.

``inherited`` turns a licence's flow-down rules into the student's ``Obligation`` list for
one role (teacher, data, student base): a rule that attaches only to copies of the licensed
materials binds only when the student's weights come from a model under that licence, and is
kept as advice otherwise; a rule the facts already break (the name, the use) is ``unmet``.
``release_findings`` checks the licence the student will be published under against what
the sources require of it.
"""

from __future__ import annotations

import re
from typing import Any

from audit.licences.knowledge import LicenseInfo, ObligationRule
from audit.licences.schema import Obligation, Role

# A section cited at the end of an obligation's text: "... (1.b.iii)." or "... (3(a)(1))."
_CITED = re.compile(
    r"\((\d[^()]*(?:\([^()]*\)[^()]*)*|[A-Z]\.\d[^()]*|Attachment [A-Z](?:\([a-z]\))?)\)\.?$"
)

# ``check`` below is an ``audit.licences.rules.Check`` (typed Any: rules imports this module).


_SEPARATORS = re.compile(r"[\s_\-.]+")


def name_complies(name: str, prefix: str) -> bool:
    """``name`` begins with ``prefix``, ignoring spaces, dashes, dots and underscores."""
    return _SEPARATORS.sub("", name).startswith(_SEPARATORS.sub("", prefix))


def rule_clause(rule: ObligationRule, default: str | None) -> str | None:
    cited = _CITED.search(rule.text)
    return cited.group(1) if cited else default


def _contains_materials(check: Any, info: LicenseInfo, role: Role) -> bool:
    base = (check.request.student_base_license or "").strip().lower()
    return role == "student_base" or base == info.id


def inherited(check: Any, info: LicenseInfo, role: Role) -> list[Obligation]:
    """The student's obligations under ``info`` in ``role``."""
    flow, req = info.flow_down, check.request
    unclear_reach = role == "data" and flow.applies_to_trained_model != "yes"
    found = []
    for rule in flow.obligations:
        binding = rule.binding and not unclear_reach
        text = rule.text
        if rule.needs_materials and not _contains_materials(check, info, role):
            binding = False
            text += " [advice: binds only a student whose weights contain the licensed materials]"
        unmet = False
        if rule.checks == "naming" and info.naming.prefix and check.distributed:
            unmet = bool(req.student_name) and not name_complies(
                req.student_name or "", info.naming.prefix
            )
        elif rule.checks == "research_only":
            unmet = check.commercial
        found.append(
            Obligation(
                license=info.id,
                source=role,
                text=text,
                clause=rule_clause(rule, flow.section),
                binding=binding,
                when=rule.when,
                unmet=unmet and binding,
            )
        )
    threshold = info.user_threshold.monthly_active_users
    if threshold and role != "data":
        found.append(
            Obligation(
                license=info.id,
                source=role,
                clause=info.user_threshold.section,
                text=f"Above {threshold:,} monthly active users a separate licence is needed.",
                when="now",
                unmet=req.mau is not None and req.mau > threshold,
            )
        )
    attribution = info.attribution
    if role == "student_base" and check.distributed and (attribution.text or attribution.note):
        # The student's weights are copied from its base: the base's redistribution terms apply.
        duty = f'show "{attribution.text}"' if attribution.text else attribution.note
        found.append(
            Obligation(
                license=info.id,
                source=role,
                clause=attribution.section,
                text=(
                    f"The student's weights are copied from a model under {info.id}; when "
                    f"distributing it: {duty}"
                ),
            )
        )
    return found


def release_findings(check: Any, release: LicenseInfo | None) -> None:
    """Findings on the licence the student will be published under (or on its absence)."""
    needs_terms = [
        info
        for info, role in check.sources
        if role != "data" and info.distillation_derivative.answer == "yes"
    ]
    research_only = [
        (info, role) for info, role in check.sources if info.commercial.allowed == "no"
    ]
    if release is None:
        if check.distributed and (needs_terms or research_only):
            names = ", ".join(
                sorted({i.id for i in needs_terms} | {i.id for i, _ in research_only})
            )
            check.add(
                "condition",
                (needs_terms or [i for i, _ in research_only])[0],
                None,
                f"{names} set terms the student's own licence must carry; give "
                "--release-license to check it",
                missing="--release-license",
            )
        return
    for info in needs_terms:
        if release.id != info.id and not release.use_policy.name:
            check.add(
                "condition",
                info,
                info.flow_down,
                f"releasing under {release.id} alone does not carry {info.id}'s use restrictions; "
                "add them to the student's licence as enforceable terms",
            )
    for info, role in research_only:
        if release.commercial.allowed == "yes" and release.id != info.id:
            check.add(
                "block" if role != "data" else "review",
                info,
                info.commercial,
                f"{release.id} would let others use the student commercially, which the "
                f"{role.replace('_', ' ')} licence {info.id} does not allow",
            )
