"""The console's two languages: English, in which the pages are written, and 简体中文.

The language is the one chosen with a page's switch (``?lang=zh``, kept in a
cookie), else the browser's (``Accept-Language``), else English. A text
without a Chinese translation shows in English; a test makes sure every text
of every template has one.
"""
from flask import g, has_request_context, request

LANGUAGES = {"en": "English", "zh": "简体中文"}
COOKIE = "benefits_lang"

ZH = {
    # every page
    "VIP Benefits": "VIP 权益",
    "Console": "控制台",
    "Language": "语言",
    "Sign out": "退出",
    "Signed in as {name}": "已登录：{name}",
    "Front desk": "前台",
    "Rule versions": "规则版本",
    "Audit trail": "审计记录",
    "Partners and keys": "合作方与密钥",
    "API documentation": "API 文档",
    "Main navigation": "主导航",
    "Back": "返回",
    "Next page": "下一页",
    "Nothing here yet.": "暂无内容。",
    "This page is not for a {role} key.": "此页面不对{role}密钥开放。",
    "partner": "合作方",
    "admin": "管理员",
    "app": "应用",
    "The page could not be shown": "无法显示此页面",
    "Your session has ended. Sign in again.": "会话已结束，请重新登录。",
    # sign-in
    "Sign in": "登录",
    "API key": "API 密钥",
    "Partners and admins sign in with the API key the bank gave them.":
        "合作方与管理员请使用银行发放的 API 密钥登录。",
    "Unknown or revoked API key.": "API 密钥无效或已被吊销。",
    "An app key is for the bank's app backend: it opens no console.":
        "应用密钥仅供银行 App 后台使用，不能登录控制台。",
    "Too many failed sign-ins. Try again in {seconds} seconds.": "登录失败次数过多，请 {seconds} 秒后再试。",
    # front desk
    "Pass code": "凭证码",
    "Look up": "查询",
    "The code the customer shows, such as 7KQ2M-XH9PD": "客户出示的凭证码，例如 7KQ2M-XH9PD",
    "Customer": "客户",
    "Tier": "等级",
    "Reference": "客户编号",
    "Pass valid until": "凭证有效期至",
    "Benefits": "权益",
    "Benefit": "权益",
    "Quota": "额度",
    "Used": "已用",
    "Held": "预留中",
    "Remaining": "剩余",
    "unlimited": "不限",
    "Hold": "预留",
    "Capture": "直接核销",
    "Confirm": "确认",
    "Cancel": "取消",
    "Quantity": "数量",
    "Today's redemptions": "今日核销记录",
    "Time": "时间",
    "Status": "状态",
    "Actions": "操作",
    "held": "预留中",
    "confirmed": "已确认",
    "cancelled": "已取消",
    "lapsed": "已失效",
    "The hold lapses at {time}.": "预留将于 {time} 失效。",
    "Held {benefit} ({quantity}); the hold lapses at {time}.": "已预留 {benefit}（{quantity}），预留将于 {time} 失效。",
    "Confirmed {benefit} ({quantity}).": "已确认 {benefit}（{quantity}）。",
    "Redemption {id} is confirmed.": "核销 {id} 已确认。",
    "Redemption {id} is cancelled; its quota is back.": "核销 {id} 已取消，额度已退回。",
    "No such pass code, or it has expired.": "凭证码不存在或已过期。",
    "No quota is left for this benefit in this period.": "本期该权益已无剩余额度。",
    "The hold lapsed before it was confirmed.": "预留在确认前已失效。",
    "This redemption was cancelled.": "该核销已取消。",
    "The customer has no such benefit.": "该客户没有此项权益。",
    "This desk does not serve this benefit, or the pass is for another one.":
        "本前台不提供此权益，或该凭证仅限其他权益。",
    "Too many failed look-ups. Try again in {seconds} seconds.": "查询失败次数过多，请 {seconds} 秒后再试。",
    "Monthly statements": "月度对账单",
    "No redemption today.": "今日暂无核销。",
    # admin: versions
    "Version": "版本",
    "Author": "作者",
    "Approver": "审批人",
    "Created": "创建时间",
    "Activated": "启用时间",
    "draft": "草稿",
    "approved": "已审批",
    "active": "生效中",
    "retired": "已停用",
    "New version": "新建版本",
    "Rule document": "规则文档",
    "Save draft": "保存草稿",
    "The document, in YAML (or JSON). It is checked when you save it.": "YAML（或 JSON）格式的规则文档，保存时校验。",
    "The document was not saved: fix these problems.": "文档未保存，请修正以下问题：",
    "Path": "位置",
    "Line": "行",
    "Problem": "问题",
    "Source": "原文",
    "Difference from the active version": "与生效版本的差异",
    "This is the active version.": "这是当前生效的版本。",
    "No version is active.": "当前没有生效的版本。",
    "Added": "新增",
    "Removed": "删除",
    "Changed": "修改",
    "Settings": "设置",
    "Rule": "规则",
    "Fields": "字段",
    "No difference.": "无差异。",
    "Approve": "审批通过",
    "Activate": "启用",
    "You wrote this version: another admin must approve it.": "此版本由您编写，须由另一位管理员审批。",
    "Only a draft can be approved.": "只有草稿可以审批。",
    "Only an approved version can be activated.": "只有已审批的版本可以启用。",
    "A version must be approved by an admin other than its author.": "版本须由作者以外的管理员审批。",
    "Version {version} is approved.": "版本 {version} 已审批。",
    "Version {version} is active.": "版本 {version} 已启用。",
    "Version {version} is saved as a draft.": "版本 {version} 已保存为草稿。",
    # admin: simulation
    "Simulate": "模拟",
    "Customers in the sample": "抽样客户数",
    "Simulation of version {version} against the active version {active}":
        "版本 {version} 相对当前生效版本 {active} 的模拟结果",
    "customers": "位客户",
    "Tier up": "升级",
    "Tier down": "降级",
    "Gained": "获得",
    "Lost": "失去",
    "Customers moving": "客户变化",
    "Signals raised": "新增信号",
    "Signals cleared": "消除信号",
    # admin: audit
    "Action": "动作",
    "Subject": "对象",
    "Actor": "操作者",
    "Since": "起",
    "Until": "止",
    "Filter": "筛选",
    "Verify chain": "校验哈希链",
    "The chain verifies: {checked} rows, every link intact.": "哈希链校验通过：{checked} 条记录，链接完整。",
    "The chain is broken at row {first_bad} ({checked} rows checked).": "哈希链在第 {first_bad} 条断裂（已校验 {checked} 条）。",
    "Details": "详情",
    # admin: partners and keys
    "Partners": "合作方",
    "Keys": "密钥",
    "Id": "编号",
    "Name": "名称",
    "Kind": "类型",
    "hospital": "医院",
    "hotel": "酒店",
    "lounge": "贵宾厅",
    "education": "教育机构",
    "other": "其他",
    "Benefits served, separated by commas": "提供的权益（以逗号分隔）",
    "Create partner": "创建合作方",
    "Create key": "创建密钥",
    "Role": "角色",
    "Last used": "最近使用",
    "Revoked": "吊销时间",
    "Revoke": "吊销",
    "Partner {id} is created.": "合作方 {id} 已创建。",
    "Key {id} ({name}) is revoked.": "密钥 {id}（{name}）已吊销。",
    "The new key, shown only now:": "新密钥（仅显示这一次）：",
    "This key was shown once, when it was created.": "该密钥仅在创建时显示过一次。",
    "Key name": "密钥名称",
    # webhooks
    "Webhooks": "Webhook 推送",
    "Endpoints": "接收端点",
    "Messages": "消息类型",
    "Secret rotated": "密钥轮换时间",
    "the old secret signs until {until}": "旧密钥签名至 {until}",
    "Deliveries": "投递记录",
    "Rotate secret": "轮换密钥",
    "Delete": "删除",
    "Description": "说明",
    "Subscribe": "订阅",
    "Deliveries to webhook {id}": "Webhook {id} 的投递记录",
    "all": "全部",
    "Message": "消息",
    "Type": "类型",
    "Attempts": "尝试次数",
    "Last answer": "最近响应",
    "Next attempt": "下次尝试",
    "Retry": "重试",
    "Skip": "跳过",
    "disabled": "已停用",
    "deleted": "已删除",
    "pending": "待投递",
    "delivered": "已投递",
    "failed": "失败",
    "skipped": "已跳过",
    "Webhook {id} is subscribed. Its secret, shown only now:": "Webhook {id} 已订阅。其密钥仅显示这一次：",
    "The new secret of webhook {id}, shown only now (the old one signs too for 24 hours):":
        "Webhook {id} 的新密钥仅显示这一次（旧密钥在 24 小时内仍会一并签名）：",
    "Webhook {id} is deleted.": "Webhook {id} 已删除。",
    "Message {id} will be sent again now.": "消息 {id} 将立即重新发送。",
    "Message {id} is skipped.": "消息 {id} 已跳过。",
    "This webhook or message no longer exists.": "该 Webhook 或消息已不存在。",
}


def choose() -> None:
    """The request's language: the page's switch, the cookie it left, the browser's, or English."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        g.lang, g.lang_chosen = asked, True
        return
    kept = request.cookies.get(COOKIE)
    g.lang = kept if kept in LANGUAGES else (request.accept_languages.best_match(["en", "zh"]) or "en")


def gettext(text: str, **values) -> str:
    language = g.get("lang", "en") if has_request_context() else "en"
    translated = ZH.get(text, text) if language == "zh" else text
    return translated.format(**values) if values else translated


def remember(response):
    """Keep a language chosen with the switch for the next pages."""
    if g.get("lang_chosen"):
        response.set_cookie(COOKIE, g.lang, max_age=365 * 86400, httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/")
    return response
