"""Settings > Notifications > "Why don't I see notifications?": the doctor's findings, one
line each in plain words. The checks run in the service (notification_doctor.py)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QVBoxLayout, QWidget

from messenger.client.i18n import tr
from messenger.client.services.notification_doctor import Finding, Verdict
from messenger.client.ui.dialog_parts import close_buttons

MARKS = {Verdict.OK: ("✔", "#2E7D32"), Verdict.PROBLEM: ("✖", "#D93025"), Verdict.UNKNOWN: ("?", "#9A6700"),
         Verdict.NOT_APPLICABLE: ("–", "#80868B")}


def finding_text(finding: Finding) -> str:
    """What a finding means for the person, in their language."""
    if finding.verdict is Verdict.NOT_APPLICABLE:
        return tr(f"doctor.{finding.check}") + " — " + tr("doctor.not_applicable")
    if finding.verdict is Verdict.UNKNOWN:
        return tr(f"doctor.{finding.check}") + " — " + tr("doctor.unknown")
    key = f"doctor.{finding.check}.{finding.verdict.value}"
    if finding.check == "focus_assist" and finding.verdict is Verdict.PROBLEM:
        key = f"doctor.focus_assist.{finding.detail}"
    return tr(key, detail=finding.detail)


class NotificationDoctorDialog(QDialog):
    def __init__(self, findings: list[Finding], parent: QWidget | None = None):
        super().__init__(parent)
        self.findings = findings
        self.setWindowTitle(tr("doctor.title"))
        self.setMinimumWidth(520)
        problems = [f for f in findings if f.verdict is Verdict.PROBLEM]
        self.summary = QLabel(tr("doctor.summary_problems", count=len(problems)) if problems
                              else tr("doctor.summary_fine"))
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-weight: 600;")
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.lines: list[QLabel] = []
        for row, finding in enumerate(findings):
            mark, colour = MARKS[finding.verdict]
            sign = QLabel(mark)
            sign.setStyleSheet(f"color: {colour}; font-weight: 700;")
            sign.setAlignment(Qt.AlignmentFlag.AlignTop)
            text = QLabel(finding_text(finding))
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if finding.verdict is Verdict.NOT_APPLICABLE:
                text.setStyleSheet("color: #80868B;")
            grid.addWidget(sign, row, 0)
            grid.addWidget(text, row, 1)
            self.lines.append(text)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(grid)
        layout.addWidget(close_buttons(self))
