"""Reference data of the synthetic city and its population, with where each figure comes from.

The city is modelled on 慈溪 (Ningbo, Zhejiang): 5 subdistricts and 14 towns by their real
names; codes follow the statistics bureau's 330282xxx pattern (浒山街道 = 330282003 as seen in
public records; the others in the bureau's east-to-west order, to be checked against the
official list before production use). Weights are the share of the migrant population living
in each, higher in the central subdistricts and the industrial towns of the west (周巷, 观海卫).
"""

from __future__ import annotations

from dataclasses import dataclass


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
