"""The console's words, Chinese first (the staff's language) and English; and how the renewal
calendar reads on a page (windows and days relative to expiry)."""

from __future__ import annotations

from datetime import date

from renewals.calendar import plan_renewal
from workflows.contract import INSURER_NAMES, Insurer

# key: (中文, English)
TEXT: dict[str, tuple[str, str]] = {
    "app": ("续保工作台", "Renewal console"),
    "skip": ("跳到主要内容", "Skip to main content"),
    "nav": ("主导航", "Main navigation"),
    "tasks": ("待办任务", "To-do"),
    "cases": ("案件", "Cases"),
    "supervision": ("督办与投诉", "Supervision"),
    "admin_page": ("系统管理", "Administration"),
    "manager_page": ("报表与监控", "Reports"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "sign_in_failed": ("用户名或密码错误,或账号已停用", "Wrong username or password, or the account is deactivated"),
    "signed_out": ("请先登录", "Please sign in"),
    "language": ("语言", "Language"),
    "other_language": ("English", "中文"),
    "today": ("今天", "Today"),
    "due": ("今日待办", "Due"),
    "missed": ("已逾期", "Missed"),
    "done_today": ("今日已办", "Done today"),
    "no_tasks": ("今天没有待办任务。", "Nothing to do today."),
    "missed_badge": ("逾期", "missed"),
    "window": ("窗口", "Window"),
    "due_by": ("截止", "Due by"),
    "customer": ("客户", "Customer"),
    "vehicle": ("车辆", "Vehicle"),
    "phone": ("电话", "Phone"),
    "policy": ("保单", "Policy"),
    "open_task": ("办理", "Open"),
    "call_button": ("拨打电话", "Call"),
    "case": ("续保案件", "Renewal case"),
    "stage": ("阶段", "Stage"),
    "expiry": ("终保日", "Expiry"),
    "owner": ("保单服务经理", "Service manager"),
    "status": ("跟进状态", "Follow-up status"),
    "outcome": ("结果", "Outcome"),
    "new_policy_no": ("新保单号", "New policy number"),
    "escalated": ("已转副经理督办", "Escalated to the deputy"),
    "your_task": ("当前任务", "Open task"),
    "no_open_task": ("目前没有您的待办任务。", "No open task of yours right now."),
    "actions": ("可办理事项", "What you can do now"),
    "no_actions": ("现在轮不到您处理此案件。", "Nothing for you to do on this case now."),
    "record_contact": ("记录联系结果", "Record a contact"),
    "channel": ("方式", "Channel"),
    "result": ("结果", "Result"),
    "note": ("备注", "Note"),
    "save": ("保存", "Save"),
    "follow_up": ("设置跟进状态", "Set the follow-up status"),
    "new_policy_hint": ("成功(已缴费出单)时必填", "required for success (paid and issued)"),
    "sms_form": ("发送短信", "Send an SMS"),
    "template": ("短信模板", "Template"),
    "send": ("发送", "Send"),
    "quiet_hours": ("现在是免打扰时段(21:00–08:00),短信将于 {at} 发出。",
                    "Quiet hours (21:00–08:00): the SMS will go out at {at}."),
    "call_hours": ("外呼时间为 09:00–21:00:{reason}", "Calls are allowed 09:00–21:00: {reason}"),
    "call_hint": ("先呼叫您的手机,接通后再转接客户(全程录音)。",
                  "Your phone rings first, then you are connected to the customer (recorded)."),
    "renewed_elsewhere": ("客户已在他处续保", "Renewed with another insurer"),
    "insurer": ("承保公司", "Insurer"),
    "reason": ("流失原因", "Loss reason"),
    "reason_later": ("稍后选择", "choose later"),
    "loss_reason": ("登记流失原因", "Record the loss reason"),
    "corrected_phone": ("更正电话(仅您可见)", "Corrected phone (only you will see it)"),
    "new_phone": ("新号码", "New number"),
    "phone_unreachable": ("无法找到有效号码", "No working number can be found"),
    "timeline": ("跟进记录", "Timeline"),
    "no_timeline": ("暂无记录。", "Nothing recorded yet."),
    "unified_view": ("统一客户视图", "Customer"),
    "name": ("姓名", "Name"),
    "id_number": ("证件号", "ID number"),
    "opted_out": ("已退订短信", "opted out of SMS"),
    "do_not_call": ("勿电至", "do not call until"),
    "unreachable": ("号码无效", "no working number"),
    "policies": ("保单", "Policies"),
    "premium": ("保费", "Premium"),
    "claims_last_year": ("上年出险", "Claims last year"),
    "model": ("车型", "Model"),
    "back": ("返回待办", "Back to the to-do list"),
    "refused_title": ("未能办理", "Not done"),
    "done_title": ("已办理", "Done"),
    "forbidden": ("无权访问", "Not allowed"),
    "csrf": ("表单已过期或来源不明,请刷新页面后重试。", "This form is stale or was not sent from this console: "
                                                          "reload the page and try again."),
    "under_supervision": ("督办中的案件", "Cases under supervision"),
    "complaints": ("待处理投诉", "Open complaints"),
    "none": ("无", "None"),
    "links": ("相关功能", "Tools"),
    "temporal_ui": ("工作流监控(Temporal UI)", "Workflows (Temporal UI)"),
    "api_docs": ("接口文档", "API documentation"),
    "placeholder": ("以下功能通过接口提供,页面正在建设中。", "These work through the API; their pages are being built."),
    "import_policies": ("导入保单(CSV)", "Import policies (CSV)"),
    "unassigned": ("未分配保单", "Unassigned policies"),
    "reassign_book": ("离职移交(先试运行)", "Reassign a book (dry run first)"),
    "reports": ("续保报表", "Renewal reports"),
    "all_cases": ("案件列表", "All cases"),
    "page_not_found": ("页面不存在", "Page not found"),
    "task_kind.call": ("电话跟进", "Call"),
    "task_kind.supervision": ("副经理督办", "Supervision"),
    "task_kind.complaint": ("处理投诉", "Complaint"),
    "task_kind.loss_reason": ("选择流失原因", "Loss reason"),
    "task_kind.attention": ("系统异常待处理", "Needs attention"),
    "task_kind.find_number": ("查找有效号码", "Find a working number"),
    "done.contacts": ("联系结果已记录。", "Contact recorded."),
    "done.follow-up": ("跟进状态已保存。", "Follow-up status saved."),
    "done.renewed-elsewhere": ("已登记他处续保。", "Renewal elsewhere recorded."),
    "done.loss-reason": ("流失原因已登记,案件结束。", "Loss reason recorded; the case is closed."),
    "done.sms": ("短信已发送。", "SMS sent."),
    "done.sms_held": ("免打扰时段:短信将于 {at} 发出。", "Quiet hours: the SMS goes out at {at}."),
    "done.sms_suppressed": ("客户已退订,短信未发送。", "The customer opted out: no SMS sent."),
    "done.sms_failed": ("短信发送失败。", "The SMS could not be sent."),
    "done.sms_queued": ("短信已排队,稍后发出。", "The SMS is queued and goes out shortly."),
    "done.call": ("正在呼叫您的手机,接通后转接客户 {at}。", "Your phone is ringing; then we connect you to {at}."),
    "done.customer-phone": ("已保存更正号码。", "Corrected phone saved."),
    "done.phone-unreachable": ("已登记号码无效。", "Recorded: no working number."),
}

ENUMS: dict[str, tuple[str, str]] = {
    "WAITING": ("等待续保窗口", "Waiting"),
    "FIRST_CONTACT": ("首次联系", "First contact"),
    "SECOND_CONTACT": ("二次联系", "Second contact"),
    "THIRD_CONTACT": ("每日跟进", "Daily follow-up"),
    "DEPUTY_SUPERVISION": ("副经理督办", "Deputy supervision"),
    "FINAL_CONTACT": ("到期前跟进", "Final contact"),
    "POST_EXPIRY": ("脱保跟进", "After expiry"),
    "RENEWED": ("已续保", "Renewed"),
    "LOST": ("已流失", "Lost"),
    "LAPSED": ("已脱保", "Lapsed"),
    "CLOSED": ("已关闭", "Closed"),
    "success": ("成功(已缴费出单)", "success (paid and issued)"),
    "failed": ("失败(需副经理协助)", "failed (needs the deputy)"),
    "continue": ("继续跟进(有把握)", "continue (confident)"),
    "reached": ("已接通", "reached"),
    "no_answer": ("无人接听", "no answer"),
    "busy": ("占线", "busy"),
    "wrong_number": ("电话有误", "wrong number"),
    "refused": ("拒绝沟通", "refused"),
    "complaint": ("投诉", "complaint"),
    "do_not_contact": ("拒绝一切联系(列入勿扰名单)", "refuses all contact (do-not-call list)"),
    "call": ("电话", "call"),
    "sms": ("短信", "SMS"),
    "visit": ("上门", "visit"),
    "quote": ("报价短信", "quote"),
    "service_request": ("请求服务机会", "request to serve"),
    "price": ("价格", "price"),
    "claims": ("理赔", "claims"),
    "relationship": ("人情", "relationship"),
    "vehicle_transferred": ("车辆过户", "vehicle transferred"),
    "vehicle_scrapped": ("车辆报废", "vehicle scrapped"),
    "service": ("服务", "service"),
    "other": ("其他", "other"),
    "unknown": ("未知", "unknown"),
    "open": ("待办", "open"),
    "done": ("已办", "done"),
    "expired": ("逾期未办", "missed"),
    "cancelled": ("已取消", "cancelled"),
    "first_notice": ("首次续保提醒", "first notice"),
    "final_notice": ("到期提醒", "final notice"),
    "manager_final_reminder": ("经理到期提醒", "reminder to the manager"),
    "deputy_escalation": ("督办通知", "escalation to the deputy"),
    "complaint_alert": ("投诉通知", "complaint alert"),
    "loss_reason_request": ("流失原因提醒", "loss-reason request"),
    "queued": ("排队中", "queued"),
    "sent": ("已发送", "sent"),
    "delivered": ("已送达", "delivered"),
    "undelivered": ("未送达", "undelivered"),
    "held": ("待发送", "held"),
    "completed": ("已完成", "completed"),
    "sales": ("保单服务经理", "service manager"),
    "deputy": ("分管副经理", "deputy manager"),
    "admin": ("系统专员", "system specialist"),
    "manager": ("管理人员", "manager"),
    "auditor": ("审计", "auditor"),
}


INSURERS_EN = {
    Insurer.picc: "PICC P&C", Insurer.ping_an: "Ping An P&C", Insurer.cpic: "CPIC P&C",
    Insurer.china_life: "China Life P&C", Insurer.china_united: "China United", Insurer.sunshine: "Sunshine P&C",
    Insurer.taiping: "Taiping P&C", Insurer.dajia: "Dajia", Insurer.tianan: "Tian An", Insurer.zhongan: "ZhongAn",
    Insurer.other: "another insurer",
}
TEXT |= {f"insurer.{code.value}": (INSURER_NAMES[code], INSURERS_EN[code]) for code in Insurer}

assert not TEXT.keys() & ENUMS.keys(), "a page word and a business value share a key"


def translator(language: str):
    index = 0 if language == "zh" else 1

    def t(key: str, **values: object) -> str:
        pair = TEXT.get(key) or ENUMS.get(key)
        text = pair[index] if pair else key
        return text.format(**values) if values else text

    return t


def t_day(day: int | None) -> str:
    """Days relative to expiry as the seed writes them: T-18, T0, T+3."""
    if day is None:
        return ""
    return f"T{day:+d}" if day else "T0"


def _window_days() -> dict[str, str]:
    # Window days are the same for every case; read them off any plan.
    plan = plan_renewal(date(2026, 1, 1), "UTC")
    # A window ends when the next opens (09:00 of its first day): its last full day is the day before.
    return {w.stage.value: f"{t_day(plan.day_of(w.starts_at))} ~ {t_day(plan.day_of(w.ends_at) - 1)}"
            for w in plan.windows}


WINDOW_DAYS = _window_days()
