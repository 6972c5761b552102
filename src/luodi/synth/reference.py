"""Reference data of the synthetic city and its population, with where each figure comes from.

The city is modelled on 慈溪 (Ningbo, Zhejiang): 5 subdistricts and 14 towns by their real
names; codes follow the statistics bureau's 330282xxx pattern (浒山街道 = 330282003 as seen in
public records; the others in the bureau's east-to-west order, to be checked against the
official list before production use). Weights are the share of the migrant population living
in each, higher in the central subdistricts and the industrial towns of the west (周巷, 观海卫).
"""

from __future__ import annotations

from dataclasses import dataclass

from luodi.kernels.forecast.presence import CYCLE_COUNT_DAY


@dataclass(frozen=True)
class TownSpec:
    code: str
    name: str
    kind: str
    weight: float
    hot_schools: bool  # demand for school places well above supply (热点学校)


CIXI_TOWNS: list[TownSpec] = [
    TownSpec("330282001", "白沙路街道", "subdistrict", 5.0, True),
    TownSpec("330282002", "古塘街道", "subdistrict", 6.0, True),
    TownSpec("330282003", "浒山街道", "subdistrict", 7.0, True),
    TownSpec("330282004", "宗汉街道", "subdistrict", 7.0, False),
    TownSpec("330282005", "坎墩街道", "subdistrict", 6.0, False),
    TownSpec("330282101", "龙山镇", "town", 5.0, False),
    TownSpec("330282102", "掌起镇", "town", 4.0, False),
    TownSpec("330282103", "观海卫镇", "town", 9.0, True),
    TownSpec("330282104", "附海镇", "town", 4.0, False),
    TownSpec("330282105", "桥头镇", "town", 4.0, False),
    TownSpec("330282106", "匡堰镇", "town", 3.0, False),
    TownSpec("330282107", "逍林镇", "town", 4.0, False),
    TownSpec("330282108", "新浦镇", "town", 5.0, False),
    TownSpec("330282109", "胜山镇", "town", 3.0, False),
    TownSpec("330282110", "横河镇", "town", 6.0, False),
    TownSpec("330282111", "崇寿镇", "town", 3.0, False),
    TownSpec("330282112", "庵东镇", "town", 5.0, False),
    TownSpec("330282113", "长河镇", "town", 4.0, False),
    TownSpec("330282114", "周巷镇", "town", 10.0, True),
]

CITY_REGION_CODE = "330282"

# Origin provinces of Zhejiang's migrant population (第七次全国人口普查 浙江省 省外流入人口
# 来源地: 安徽, 贵州, 江西, 河南, 四川 lead, then 湖南, 湖北, 云南, 重庆), with real county
# codes (GB/T 2260) of typical sending counties; 霍邱 is named in the 乐清 reply in sources/.
ORIGINS: dict[str, tuple[float, list[str]]] = {
    "安徽": (0.20, ["341522", "341221", "341226", "340321", "341321", "341225"]),
    "贵州": (0.15, ["522422", "522425", "522427", "520321", "522121", "520221"]),
    "江西": (0.11, ["360121", "360722", "361025", "360426", "361123", "360731"]),
    "河南": (0.11, ["411523", "411526", "411521", "411722", "411628", "410221"]),
    "四川": (0.10, ["511321", "510922", "513022", "510121", "511602", "511623"]),
    "湖南": (0.07, ["430621", "431121", "430524", "431021", "430923"]),
    "湖北": (0.07, ["420117", "421022", "421181", "420982", "421126"]),
    "云南": (0.06, ["532128", "530621", "532622", "530128", "530623"]),
    "重庆": (0.05, ["500101", "500229", "500235", "500236", "500242"]),
    "广西": (0.03, ["450121", "450821", "452226", "451025"]),
    "江苏": (0.02, ["320826", "321322", "320721"]),
    "山东": (0.01, ["371321", "371722"]),
    "甘肃": (0.01, ["620422", "621121"]),
    "陕西": (0.01, ["610721", "612429"]),
}

# 国家统计局《2023年农民工监测调查报告》: 未上过学 0.7%, 小学 13.8%, 初中 52.1%, 高中 17.1%,
# 大专及以上 16.3%; the last split into 大专 / 本科 / 研究生 by the 2020 census ratios.
EDUCATION: dict[str, float] = {
    "none": 0.145,
    "junior_high": 0.521,
    "senior_high": 0.171,
    "associate": 0.105,
    "bachelor": 0.053,
    "master": 0.0045,
    "doctor": 0.0005,
}

# 职业技能等级 held by about a quarter of migrant workers (人社部 技能人才统计, rounded).
SKILL_LEVELS: dict[str, float] = {
    "none": 0.75,
    "junior": 0.12,
    "intermediate": 0.08,
    "senior": 0.04,
    "technician": 0.008,
    "senior_technician": 0.002,
}

# 慈溪's industries (家电, 轴承, 化纤, 五金, 汽配) for employer names.
INDUSTRIES = [
    "电器",
    "家电",
    "轴承",
    "化纤",
    "五金",
    "汽配",
    "模具",
    "塑料",
    "纺织",
    "服饰",
    "食品",
    "包装",
    "机械",
    "电子",
    "照明",
    "密封件",
]

HOUSING_LAYOUTS: dict[str, tuple[float, int, int]] = {
    # layout: (share, smallest area m², largest area m²)
    "单间": (0.35, 22, 35),
    "一室一厅": (0.45, 35, 50),
    "两室一厅": (0.20, 50, 70),
}

# How long a migrant has lived in the city (this stay), in years: bands of the census table
# "人户分离人口 by 离开户口登记地时间" (半年以下 … 六年以上) split further above six years.
# ASSUMPTION: the shares are ours, not a published table (the official Zhejiang table is not
# in ../shared/sources): about a sixth here under a year, a third six years or more, and one
# in six ten years or more, the long-settled families of 慈溪's factories. Replace them with
# the 2020 census's Zhejiang figures when at hand.
STAY_YEARS: list[tuple[float, float, float]] = [
    # (from, to, share): uniform within a band
    (0.0, 0.5, 0.08),
    (0.5, 1.0, 0.09),
    (1.0, 2.0, 0.13),
    (2.0, 3.0, 0.11),
    (3.0, 4.0, 0.09),
    (4.0, 5.0, 0.08),
    (5.0, 6.0, 0.07),
    (6.0, 10.0, 0.17),
    (10.0, 20.0, 0.18),
]

REGISTRATION_START = (2010, 1, 1)
"""ASSUMPTION: the first 浙江省居住证 on file: the permits of the 2009 条例 (earlier 暂住证
are not residence registration and count for nothing), so no permit is issued before 2010."""

PERMIT_AFTER_ARRIVAL_DAYS = 183
"""A permit needs half a year's residence (《浙江省流动人口居住登记条例》Art. 16); people apply
soon after (an exponential wait of ``PERMIT_APPLICATION_WAIT_DAYS`` on average)."""
PERMIT_APPLICATION_WAIT_DAYS = 45

PERMIT_VALIDITY_YEARS = 20
"""ASSUMPTION: Art. 19 sets no term for the permit, only the yearly endorsement, but the feed
needs an expiry date: one long enough that a continuing stay never outlives its permit."""

# Permit histories (ASSUMPTION, no published rate): per anniversary, the endorsement (签注,
# Art. 19) is made in the month before it, or late (suspending the permit and restarting
# the residence years), and a few holders let the last one lapse (suspended today).
NEVER_APPLY = 0.05
ENDORSEMENT_LATE = 0.04
ENDORSEMENT_LATE_MEAN_DAYS = 40
ENDORSEMENT_LATE_MAX_DAYS = 180
ENDORSEMENT_LAPSED = 0.03
PERMIT_CANCELLED = 0.02
EARLIER_STAY = 0.12
"""Share of residents (plus as much again past 35) who lived here before, left and came back:
their earlier permit expired when they left (its expiry date is the day the stay ended)."""

# Social insurance (ASSUMPTION, shaped by 2023 农民工监测调查报告's low participation and
# Zhejiang's higher one): who pays, since when, who stopped, who missed months.
INSURED = {"wage_earner": 0.80, "self_employed": 0.35, "not_employed": 0.35}
INSURED_AFTER_ARRIVAL_MEAN_DAYS = 365
STOPPED_WHILE_EMPLOYED = 0.05
MISSED_MONTHS = 0.12  # of those paying now: a gap of 1–3 months in the monthly window
BACK_PAID = 0.35  # of those gaps: paid afterwards (补缴), which counts for no continuity
MISSED_MONTH_IN_A_YEAR = 0.03  # yearly totals before the monthly window
RESIDENT_MEDICAL_SCHEME = 0.5  # of those without employee insurance: 城乡居民医保 each year

# Trade unions (工会法 Art. 11: 25 members or more form a 基层工会委员会). ASSUMPTION: share of
# firms with a union by staff in the synthetic city.
UNION_BY_STAFF: list[tuple[int, float]] = [(100, 0.9), (25, 0.6), (0, 0.15)]
FRONTLINE = 0.65
"""ASSUMPTION: share of wage earners on a production line or other front-line post (一线岗位);
慈溪's migrants work mostly in manufacturing. The self-employed are never frontline staff."""

# Relatives in a couple's household (ASSUMPTION): an older single adult living with a younger
# couple as parent, a young adult with an older couple as grown-up child, and siblings.
RELATIVES: dict[str, tuple[int, int, float, int, int]] = {
    # relation: (own age from, to, share of such singles, host age from, to)
    "parent": (52, 62, 0.25, 22, 34),
    "child": (18, 22, 0.30, 42, 62),
    "sibling": (23, 40, 0.04, 22, 45),
}

# The city's past (``luodi synth --years N``): the migration model of docs/analytics.md.
# Families arrive month by month per town (Poisson), at a level that grows by a rate varying by
# town and year, with a Spring-Festival season; they leave at a yearly hazard; their children
# come with them or are born here; each past school year's entry grades are counted from the
# families present on 30 April.

INFLOW_TREND = {"hot": 0.06, "other": 0.015}
"""Mean yearly growth of the arrivals of a town with hot schools (热点学校: the central
subdistricts and the industrial towns, where demand already exceeds supply) and of the others.
ASSUMPTION on the split, anchored on the census: Zhejiang's population from other provinces
grew from about 11.8 million (2010 census) to about 16.2 million (2020 census, 省外流入人口),
some 3 % a year; the towns whose schools are already short take more of the growth."""
INFLOW_TREND_SPREAD = 0.03
"""Standard deviation of a town's own trend around its kind's (ASSUMPTION)."""
INFLOW_YEAR_SPREAD = 0.05
"""Standard deviation of a year's growth around the town's trend: factory orders, a new
industrial park, a pandemic year (ASSUMPTION: no published series by town was at hand)."""

ARRIVAL_SEASON = (0.55, 1.65, 1.75, 1.15, 0.95, 0.85, 0.85, 0.95, 0.85, 0.85, 0.85, 0.55)
"""Arrivals by calendar month, January first, relative to an average month (they average
to 1): the return after the Spring Festival (节后返岗, 招工高峰 in February and March, as
人社部 and the Zhejiang 人社厅 report every year), quiet before the holiday. ASSUMPTION on
the exact weights."""

DEPARTURE_HAZARD = 0.08
"""Yearly probability that a family here leaves the city. ASSUMPTION (no published hazard was
at hand): a constant 8 % leaves half of an arriving cohort after about 8.5 years, in keeping
with ``STAY_YEARS`` (a third of today's residents here six years or more); each town's hazard
is this times a factor drawn in ``DEPARTURE_HAZARD_RANGE``."""
DEPARTURE_HAZARD_RANGE = (0.75, 1.25)
DEPARTURE_CANCELLED = 0.45
"""Share of leavers whose permit is cancelled (注销: reported at the police station, the
``status_date`` the day they left); the others let it lapse (expired the day before they
left). ASSUMPTION."""

CAPTURE_RANGE = (0.80, 0.90)
"""Share of the children of entry age present in a town who apply for a place there (the rest
go home to school, to private schools, or do not register): drawn per town. ASSUMPTION, beside
the 0.75–0.80 birth-to-entry ratios Washington DC publishes (edscape.dc.gov, in
../shared/reference/surfaces-and-analytics.md)."""
SCHOOL_YEAR_COUNT_DAY = CYCLE_COUNT_DAY
"""A past school cycle counts the families present on 30 April of its year (month, day), as
the forecast reads a reported intake (``kernels.forecast.presence``)."""
SEAT_GROWTH_CLASS = 0.3
"""Each year a school grew by one class (one class of seats) with this probability, so going
back a year it had one class fewer (never fewer than one). ASSUMPTION."""
NEW_SCHOOL_TOWNS = 3
"""The towns whose arrivals grow fastest open their last school of a stage during the window
(when they have more than one): no intake before its opening year. ASSUMPTION."""
