"""Words for the states and kinds the pages show (msgids in Chinese, through Babel): one list
for the staff console and the resident's portal, so a status reads the same on both."""

from __future__ import annotations

from luodi.notices.models import ObjectionStatus
from luodi.programs.models import ApplicationStatus, CycleStatus
from luodi.programs.spec import ProgramKind
from luodi.web.i18n import N_

CYCLE_STATUS_WORDS: dict[str, str] = {
    CycleStatus.OPEN: N_("受理中"),
    CycleStatus.ALLOCATED: N_("已分配（公示中）"),
    CycleStatus.FINAL: N_("结果已确定"),
}
APPLICATION_STATUS_WORDS: dict[str, str] = {
    ApplicationStatus.SUBMITTED: N_("待审核"),
    ApplicationStatus.VERIFIED: N_("已审核"),
    ApplicationStatus.RETURNED: N_("已退回"),
    ApplicationStatus.PLACED: N_("已录取"),
    ApplicationStatus.WAITLISTED: N_("轮候"),
    ApplicationStatus.UNPLACED: N_("未录取"),
    ApplicationStatus.FINAL: N_("结果确定"),
}
KIND_WORDS = {
    ProgramKind.SCHOOL_ADMISSION: N_("积分入学"),
    ProgramKind.PUBLIC_HOUSING: N_("公租房"),
    ProgramKind.QUOTA_BENEFIT: N_("名额类待遇"),
    ProgramKind.TIERED_BENEFIT: N_("分档待遇"),
    ProgramKind.ENTITLEMENT: N_("资格类待遇"),
}
OBJECTION_STATUS_WORDS: dict[str, str] = {
    ObjectionStatus.OPEN: N_("待复核"),
    ObjectionStatus.UPHELD: N_("异议成立"),
    ObjectionStatus.DISMISSED: N_("异议不成立"),
}
