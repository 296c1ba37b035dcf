"""The closed vocabularies of the model (code → Chinese label, English label), checked by
the database."""

from __future__ import annotations

__all__ = [
    "BUILDING_USES",
    "FACILITY_KINDS",
    "GRID_LEVELS",
    "INCIDENT_CATEGORIES",
    "INCIDENT_CATEGORY_GROUPS",
    "INCIDENT_OUTCOMES",
    "INCIDENT_STATUSES",
    "OPINIONS",
    "PLAN_STATUSES",
    "RESOURCE_KINDS",
    "ROAD_KINDS",
    "ROLES",
    "VERSION_STATUSES",
    "WORKER_ROLES",
]

GRID_LEVELS = {
    "community": ("社区网格", "community grid"),
    "compound": ("小区/院落网格", "compound grid"),
    "micro": ("楼栋/单元微网格", "micro-grid"),
}
FACILITY_KINDS = {
    "party_service_complex": ("党群服务综合体", "party-service complex"),
    "party_service_centre": ("党群服务中心", "party-service centre"),
    "party_service_station": ("小区(网格)党群服务站", "compound party-service station"),
    "convenience_centre": ("便民服务中心", "convenience service centre"),
    "convenience_station": ("便民服务站", "convenience service station"),
}
RESOURCE_KINDS = {
    "canteen": ("食堂", "canteen"),
    "sports_ground": ("运动场地", "sports ground"),
    "meeting_room": ("会议室", "meeting room"),
    "parking": ("停车场", "parking"),
    "activity_room": ("活动室", "activity room"),
    "library": ("图书室", "reading room"),
    "other": ("其他", "other"),
}
WORKER_ROLES = {
    "community_secretary": ("社区书记", "community party secretary"),
    "grid_worker": ("专职网格员", "grid worker"),
    "micro_grid_worker": ("微网格员", "micro-grid worker"),
    "building_head": ("楼栋长", "building head"),
    "volunteer": ("志愿者", "volunteer"),
}
INCIDENT_STATUSES = {
    "reported": ("已上报", "reported"),
    "accepted": ("网格已受理", "accepted by the grid"),
    "street_handling": ("街镇处置中", "handled by the street"),
    "department_handling": ("部门已报到", "department reported in"),
    "resolved": ("已办结", "resolved"),
    "closed": ("已关闭", "closed"),
    "rejected": ("不予受理", "rejected"),
    "duplicate": ("重复", "duplicate"),
    "reopened": ("已重启", "reopened"),
}
INCIDENT_CATEGORIES = {
    "cooking_fumes": ("油烟扰民", "cooking fumes"),
    "noise": ("噪音扰民", "noise"),
    "garbage": ("垃圾堆放", "garbage"),
    "illegal_parking": ("乱停乱放", "illegal parking"),
    "facility_damage": ("设施损坏", "damaged facility"),
    "elevator": ("电梯故障", "elevator failure"),
    "water_leak": ("漏水", "water leak"),
    "ebike_charging": ("飞线充电", "unsafe e-bike charging"),
    "neighbour_dispute": ("邻里纠纷", "neighbour dispute"),
    "greening": ("绿化养护", "greening"),
    "other": ("其他", "other"),
}
# the groups a resident picks a category from (Chinese group name → category keys, in order)
INCIDENT_CATEGORY_GROUPS = {
    "环境卫生": ("cooking_fumes", "noise", "garbage", "greening"),
    "市容秩序": ("illegal_parking", "facility_damage"),
    "安全隐患": ("elevator", "water_leak", "ebike_charging"),
    "邻里纠纷": ("neighbour_dispute",),
    "其他": ("other",),
}
# how a closed incident ended (recorded on closing: "closed" alone hides nothing)
INCIDENT_OUTCOMES = {
    "solved": ("已解决", "solved"),
    "not_solved": ("未解决", "not solved"),
    "referred": ("已转交", "referred elsewhere"),
}
OPINIONS = {
    "suggestion": ("建议", "suggestion"),
    "request": ("诉求", "request"),
    "problem": ("问题", "problem"),
    "praise": ("表扬", "praise"),
    "none": ("无", "none"),
}
PLAN_STATUSES = {
    "draft": ("草稿", "draft"),
    "validated": ("已校验", "validated"),
    "published": ("已发布", "published"),
    "discarded": ("已放弃", "discarded"),
}
VERSION_STATUSES = {
    "draft": ("草稿", "draft"),
    "published": ("现行", "current"),
    "superseded": ("历史", "superseded"),
    "discarded": ("已放弃", "discarded"),
}
ROLES = {
    "public": ("公众", "public"),
    "worker": ("网格员", "grid worker"),
    "dispatcher": ("调度员", "dispatcher"),
    "planner": ("规划员", "planner"),
    "admin": ("管理员", "administrator"),
}
BUILDING_USES = {
    "residential": ("住宅", "residential"),
    "commercial": ("商业", "commercial"),
    "mixed": ("商住", "mixed"),
    "public": ("公共", "public"),
}
ROAD_KINDS = {
    "primary": ("主干路", "primary road"),
    "secondary": ("次干路", "secondary road"),
    "branch": ("支路", "branch road"),
    "footway": ("步行道", "footway"),
}
