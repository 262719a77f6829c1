"""The pre-flight's rules, one method per question a licence asks of a planned student.

``Check`` collects findings and obligations for one ``PreflightRequest``; ``preflight`` (in
``audit.licences.preflight``) calls it once per teacher, dataset, student base and release
licence. The rules:

- terms that forbid using outputs to improve other models block the run (unless the
  licence's own exception fits: a Llama 2 student, a non-LLM student where only large
  language models are barred, an internal classifier under OpenAI's Permitted Exception);
  terms against *competing* models block a distributed student and ask for review of an
  internal one; a use policy that needs the provider's permission for any distillation
  blocks (an override records the permission);
- non-commercial or research-only terms block commercial use, and research by an entity the
  licence excludes (a company under the Mistral Research Licence s.9);
- a user ceiling blocks above it and asks for ``--mau`` when not given;
- a region exclusion (the Llama 3.2 / 4 use policy: EU licensees get no rights in the
  multimodal models) blocks for a multimodal teacher in the region, and asks for ``--region``
  or ``--entity`` when they are missing;
- a naming rule is a condition until the student's name complies (not for an internal model);
- flow-down terms become the student's obligations, each ``binding`` or advice, due ``now``,
  ``on_release`` or ``on_hosting``; those that attach only to copies of the licensed
  materials bind only a student whose weights come from them;
- an answer not checked against the licence text gives ``needs_review``.
"""

from __future__ import annotations

from typing import Any

from audit.licences.inherit import inherited, name_complies, release_findings
from audit.licences.knowledge import UNKNOWN, Clause, LicenseInfo
from audit.licences.schema import (
    Finding,
    Obligation,
    PreflightRequest,
    PreflightResult,
    Role,
    Severity,
    Verdict,
)
from core.licence_facts import in_eu

_RANK = {"block": 0, "review": 1, "condition": 2, "info": 3}


class Check:
    """Collects findings and obligations while the rules run."""

    def __init__(self, request: PreflightRequest) -> None:
        self.request = request
        self.commercial = request.use == "commercial"
        self.distributed = not request.internal
        self.findings: list[Finding] = []
        self.obligations: list[Obligation] = []
        self.sources: list[tuple[LicenseInfo, Role]] = []

    def add(
        self,
        severity: Severity,
        info: LicenseInfo,
        clause: Clause | None,
        message: str,
        *,
        section: str | None = None,
        missing: str | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                severity=severity,
                license=info.id,
                clause=section if section is not None else (clause.section if clause else None),
                message=message,
                verified=clause.verified if clause is not None else True,
                missing=missing,
            )
        )

    # -- one entry point per role ------------------------------------------------------
    def teacher(self, info: LicenseInfo) -> None:
        self.sources.append((info, "teacher"))
        self.commercial_use(info, "teacher")
        self.research_entity(info)
        self.outputs(info, "teacher")
        self.permission(info)
        self.threshold(info)
        self.region(info, multimodal=self.request.teacher_multimodal)
        self.naming(info)
        self.inherit(info, "teacher")
        self.unverified(info)

    def data(self, info: LicenseInfo) -> None:
        self.sources.append((info, "data"))
        self.commercial_use(info, "data")
        self.outputs(info, "data")
        self.permission(info)
        self.inherit(info, "data")
        self.unverified(info)

    def student_base(self, info: LicenseInfo) -> None:
        self.sources.append((info, "student_base"))
        self.commercial_use(info, "student_base")
        self.research_entity(info)
        self.threshold(info)
        self.region(info, multimodal=False)
        self.naming(info)
        self.inherit(info, "student_base")
        self.unverified(info)

    def unknown(self, role: Role) -> None:
        self.findings.append(
            Finding(
                severity="review",
                license=UNKNOWN,
                clause=None,
                message=f"the {role.replace('_', ' ')}'s licence is unknown",
                verified=False,
            )
        )

    # -- the rules -----------------------------------------------------------------------
    def commercial_use(self, info: LicenseInfo, role: Role) -> None:
        clause = info.commercial
        if not self.commercial or clause.allowed == "yes":
            return
        if clause.allowed == "limited":
            self.add("condition", info, clause, f"{info.name} limits commercial use: {clause.note}")
        elif role == "data" and clause.reaches_trained_model != "yes":
            self.add(
                "review" if clause.reaches_trained_model == "unclear" else "info",
                info,
                clause,
                f"the data licence {info.id} is non-commercial; whether that reaches a model "
                "trained on it is unsettled: a lawyer should review commercial use",
            )
        else:
            self.add(
                "block",
                info,
                clause,
                f"the {role.replace('_', ' ')} licence {info.id} does not allow commercial use "
                f"({clause.note or 'non-commercial terms'})",
            )

    def research_entity(self, info: LicenseInfo) -> None:
        clause, entity = info.commercial, self.request.entity
        if self.commercial or not clause.excluded_entities:
            return
        if entity is None:
            self.add(
                "review",
                info,
                clause,
                f"{info.id} s.{clause.section}: research use by a "
                f"{' or '.join(clause.excluded_entities)} does not count as permitted research; "
                "give --entity",
                missing="--entity",
            )
        elif entity in clause.excluded_entities:
            self.add(
                "block",
                info,
                clause,
                f"{info.id}: use by a {entity} is not research in the licence's sense, even when "
                f"called research ({clause.note})",
            )

    def outputs(self, info: LicenseInfo, role: Role) -> None:
        rule, base = info.outputs_training, self.request.student_base_license
        kind = self.request.student_type
        if rule.rule == "forbidden":
            if base and base.lower() in rule.exception_licenses:
                self.add(
                    "info",
                    info,
                    rule,
                    f"{info.id} forbids training other models on its outputs, but "
                    f"the student is based on {base}, which the exception allows",
                )
            elif rule.scope == "other_llms" and kind != "llm":
                self.add(
                    "info",
                    info,
                    rule,
                    f"{info.id} bars improving other large language models with its outputs; "
                    f"the student is declared a {kind}, which falls outside that bar",
                )
            elif kind in rule.exception_student_types and not (
                self.distributed or self.request.hosted
            ):
                self.add(
                    "info",
                    info,
                    rule,
                    f"{info.id}: an internal {kind} is within the exception for models that "
                    "classify or organise data; distributing or offering it ends the exception",
                    section=rule.exception_section,
                )
            elif rule.scope == "competing_models" and not self.distributed:
                self.add(
                    "review",
                    info,
                    rule,
                    f"{info.id}: output may not be used to develop "
                    "competing models; whether an internal student competes needs review",
                )
            else:
                what = {"competing_models": "a competing model", "other_llms": "another LLM"}
                self.add(
                    "block",
                    info,
                    rule,
                    f"{info.id}: outputs may not be used to train "
                    f"{what.get(rule.scope, 'any other model')}. {rule.note}",
                )
        elif rule.rule == "conditional" and rule.scope == "research_only" and self.commercial:
            if info.commercial.allowed != "no":
                self.add("block", info, rule, f"{info.id} outputs may be used for research only")
        elif rule.rule == "no_clause" and role == "teacher":
            self.add("info", info, rule, f"{info.id} has no clause on training with its outputs")

    def permission(self, info: LicenseInfo) -> None:
        policy = info.use_policy
        if policy.distillation_needs_permission:
            self.add(
                "block",
                info,
                policy,
                f"{info.id}: the {policy.name} requires the provider's prior authorisation to "
                "train any model on its outputs; override only with that authorisation in writing",
            )

    def threshold(self, info: LicenseInfo) -> None:
        clause, mau = info.user_threshold, self.request.mau
        limit = clause.monthly_active_users
        if not limit:
            return
        where = f"{info.name} s.{clause.section}"
        if mau is None:
            self.add(
                "review",
                info,
                clause,
                f"{where}: {limit / 1e6:,.0f}M monthly-active-user threshold; give --mau",
                missing="--mau",
            )
        elif mau > limit:
            self.add(
                "block",
                info,
                clause,
                f"{where}: {mau:,} monthly active users is above {limit:,}; the licence grants "
                "nothing until the licensor grants a separate licence",
            )
        else:
            self.add(
                "info", info, clause, f"{where}: {mau:,} monthly active users is below {limit:,}"
            )

    def region(self, info: LicenseInfo, *, multimodal: bool) -> None:
        policy, req = info.use_policy, self.request
        if not policy.excluded_regions:
            return
        section = f"{policy.name}, {policy.exclusion_section}"
        regions = ", ".join(policy.excluded_regions)
        multimodal = multimodal or info.multimodal == "always"
        if policy.exclusion_multimodal_only and not multimodal:
            if info.multimodal == "some":
                self.add(
                    "info",
                    info,
                    policy,
                    f"the {regions} exclusion covers {info.id}'s multimodal models only; it does "
                    "not apply to a text-only teacher (give --teacher-multimodal if it is one)",
                    section=section,
                )
            return
        inside = in_eu(req.region) if "EU" in policy.excluded_regions else None
        if req.region is None:
            self.add(
                "review",
                info,
                policy,
                f"{info.id}: no rights in the multimodal models for licensees based in {regions}; "
                "give --region",
                section=section,
                missing="--region",
            )
        elif not inside and req.region not in policy.excluded_regions:
            return
        elif req.entity is None:
            self.add(
                "review",
                info,
                policy,
                f"{info.id}: licensees in {regions} get no rights in the multimodal models if they "
                "are individuals or companies based there; give --entity",
                section=section,
                missing="--entity",
            )
        elif req.entity in policy.exclusion_entities:
            self.add(
                "block",
                info,
                policy,
                f"{info.id}: a {req.entity} based in {req.region} is granted no rights in the "
                f"multimodal models ({policy.note.split('. ')[1]})",
                section=section,
            )
        else:
            self.add(
                "review",
                info,
                policy,
                f"{info.id}: the {regions} exclusion names individuals and companies; whether a "
                f"{req.entity} based in {req.region} is caught needs review",
                section=section,
            )

    def naming(self, info: LicenseInfo) -> None:
        prefix, name = info.naming.prefix, self.request.student_name
        if not prefix:
            return
        if not self.distributed:
            self.add(
                "info",
                info,
                info.naming,
                f"{info.id} requires a distributed student's name "
                f"to start with '{prefix}'; an internal model is not bound",
            )
        elif not name:
            self.add(
                "condition",
                info,
                info.naming,
                f"a distributed student must be named starting with '{prefix}' ({info.id})",
            )
        elif not name_complies(name, prefix):
            self.add(
                "condition",
                info,
                info.naming,
                f"the student's name must start with "
                f"'{prefix}' ({info.id}); '{name}' does not, e.g. use '{prefix}-{name}'",
            )

    def inherit(self, info: LicenseInfo, role: Role) -> None:
        self.obligations.extend(inherited(self, info, role))
        flow = info.flow_down
        carries = self.commercial or info.commercial.allowed != "no"
        if (
            role == "data"
            and flow.applies_to_trained_model == "unclear"
            and self.distributed
            and carries
        ):
            last = flow.obligations[-1].text if flow.obligations else ""
            self.add(
                "review",
                info,
                flow,
                f"whether a model trained on {info.id} data must carry "
                f"its terms is unsettled: {flow.note or last}",
            )
        derivative = info.distillation_derivative
        if role == "teacher" and derivative.answer == "yes":
            self.add(
                "condition",
                info,
                derivative,
                f"the student is a derivative of the teacher "
                f"under {info.id} and must carry its flow-down terms: {derivative.note}",
            )

    def release(self, release: LicenseInfo | None) -> None:
        release_findings(self, release)

    def unverified(self, info: LicenseInfo) -> None:
        unchecked = [name for name, clause in info.clauses().items() if not clause.verified]
        if unchecked:
            self.add(
                "review",
                info,
                None,
                f"{info.id}: {', '.join(sorted(unchecked))} not checked against "
                "the licence text; review before relying on this verdict",
            )
            self.findings[-1].verified = False

    def result(self, knowledge_base: dict[str, Any]) -> PreflightResult:
        findings = list(
            {(f.severity, f.license, f.clause, f.message): f for f in self.findings}.values()
        )
        findings.sort(key=lambda f: _RANK[f.severity])
        obligations = list({(o.license, o.text): o for o in self.obligations}.values())
        severities = {f.severity for f in findings}
        if "block" in severities:
            verdict: Verdict = "blocked"
        elif "review" in severities:
            verdict = "needs_review"
        elif "condition" in severities or obligations:
            verdict = "allowed_with_conditions"
        else:
            verdict = "allowed"
        return PreflightResult(
            verdict=verdict,
            findings=findings,
            obligations=obligations,
            knowledge_base=knowledge_base,
        )
