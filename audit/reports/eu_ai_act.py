"""A pre-filled training-content summary in the structure of the EU template (AI Act Art. 53(1)(d)).

The European Commission's template for the public summary of the content used to train a
general-purpose AI model has three sections: 1. general information (provider, model,
modalities and data size), 2. list of data sources (2.1 public datasets, 2.2 private
third-party datasets, 2.3 crawled and scraped data, 2.4 user data, 2.5 synthetic data, 2.6
other), 3. data processing (3.1 respect of text-and-data-mining opt-outs, 3.2 removal of
illegal content, 3.3 other). ``render_eu_ai_act`` fills what the ledger knows (datasets with
sizes, sources, licences and hashes; the teacher data as synthetic data with the models that
produced it) and marks every field only the provider can answer with ``TO COMPLETE``.

Whether the student is a general-purpose AI model at all, and so whether Art. 53 applies, is
the provider's question; the summary says so. Markdown text, one page per model.
"""

from __future__ import annotations

from audit.reports.model import DatasetEntry, ReportData

TODO = "**[TO COMPLETE by the provider]**"


def _size(entries: list[DatasetEntry]) -> str:
    records = [d.records for d in entries if d.records is not None]
    if not records:
        return f"{TODO} (no record counts in the ledger)"
    total = sum(records)
    band = "less than 1 billion tokens" if total < 1_000_000 else TODO
    return f"{total:,} records in {len(entries)} dataset(s); size band: {band}" + (
        " (inferred from the record count; confirm)" if total < 1_000_000 else ""
    )


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _dataset_rows(entries: list[DatasetEntry]) -> list[str]:
    rows = [
        "| Name | Role | Records | Licence | Source | Collected | Merkle root |",
        "|---" * 7 + "|",
    ]
    for d in entries:
        rows.append(
            f"| {_cell(d.name)} | {d.role.replace('_', ' ')} | "
            f"{d.records if d.records is not None else 'unknown'} | {d.license} | "
            f"{_cell(d.source) if d.source else TODO} | {d.collected or TODO} | "
            f"`{d.merkle_root or 'none'}` |"
        )
    return rows


def render_eu_ai_act(data: ReportData) -> str:
    """Markdown: the template's sections, pre-filled from the report, the rest marked."""
    student = data.subject.model or "the student model"
    teachers = data.role("teacher")
    synthetic = [d for d in data.datasets if d.role == "teacher_data"]
    other = [d for d in data.datasets if d.role not in ("teacher_data", "heldout")]
    kb = data.legal_basis.knowledge_base
    lines = [
        f"# Public summary of training content: {student}",
        "",
        "Pre-filled by stillhouse from its ledger, in the structure of the European "
        "Commission's template for the summary required by Article 53(1)(d) of Regulation (EU) "
        "2024/1689 (AI Act). Not legal advice: whether this model is a general-purpose AI "
        "model, and so whether Article 53 applies, is for the provider to decide. Fields marked "
        f"{TODO} are facts the ledger cannot know.",
        "",
        f"Ledger run: {data.subject.run_id or 'none'}; report SHA-256 "
        f"`{data.integrity.content_sha256}`; licence knowledge base `{kb.get('sha256')}`.",
        "",
        "## 1. General information",
        "",
        "### 1.1 Provider identification",
        f"- Provider name and contact: {TODO}",
        f"- Authorised representative (providers outside the EU): {TODO}",
        "",
        "### 1.2 Model identification",
        f"- Versioned model name: {student}",
        "- Model dependencies (models this one was distilled from or built on): "
        + (
            ", ".join(
                f"{m.name} ({m.role.replace('_', ' ')}, licence {m.license})"
                for m in data.models
                if m.role != "student"
            )
            or "none recorded"
        ),
        "  - Where a dependency is a general-purpose AI model with its own published summary, "
        f"link it: {TODO}",
        f"- Date of placement on the EU market: {TODO}",
        "",
        "### 1.3 Modalities, overall training data size and other characteristics",
        "- Modality: text",
        f"- Training data size: {_size(other + synthetic)}",
        f"- Types of content: prompts and teacher answers (text); {TODO} for anything else",
        "- Latest date of data collection: "
        + (max((d.collected for d in data.datasets if d.collected), default=None) or TODO),
        f"- Linguistic characteristics (languages covered): {TODO}",
        "",
        "## 2. List of data sources",
        "",
        "### 2.1 Publicly available datasets",
        f"Which of the datasets below are publicly available, with a link each: {TODO}",
        "",
        *_dataset_rows(other),
        "",
        "### 2.2 Private non-publicly available datasets obtained from third parties",
        f"- 2.2.1 Datasets commercially licensed from rightsholders: {TODO}",
        f"- 2.2.2 Private datasets obtained from other third parties: {TODO}",
        "",
        "### 2.3 Data crawled and scraped from online sources",
        "- stillhouse itself crawls nothing. If any dataset above was crawled, give the "
        f"crawlers, the period, the type of content and the top domain names: {TODO}",
        "",
        "### 2.4 User data",
        "- Arena votes are not used for training by stillhouse. Any user data in the datasets "
        f"above: {TODO}",
        "",
        "### 2.5 Synthetic data",
        "- Synthetic data used: " + ("yes" if synthetic else "none recorded"),
        "- Models that generated it: "
        + (
            ", ".join(
                f"{m.name} (licence {m.license}" + (f", {m.hf_id}" if m.hf_id else "") + ")"
                for m in teachers
            )
            or TODO
        ),
        *_dataset_rows(synthetic),
        "",
        "### 2.6 Other sources of data",
        f"- {TODO}",
        "",
        "## 3. Data processing aspects",
        "",
        "### 3.1 Respect of reservation of rights from the text and data mining exception",
        "- Licences recorded for each dataset are in 2.1 and 2.5; the licence pre-flight "
        f"verdict was **{data.verdict.code}**, with the findings in the stillhouse report.",
        "- Measures taken before collection to identify and respect machine-readable opt-outs "
        f"(e.g. robots.txt, TDM reservation protocols): {TODO}",
        f"- Signatory of the General-Purpose AI Code of Practice: {TODO}",
        "",
        "### 3.2 Removal of illegal content",
        f"- Measures taken to avoid or remove illegal content in the training data: {TODO}",
        "",
        "### 3.3 Other information (optional)",
        f"- Integrity: every dataset above is fingerprinted record by record (SHA-256, Merkle "
        f"root) in a hash-chained ledger; ledger head `{data.integrity.ledger_head}`.",
    ]
    return "\n".join(lines) + "\n"
