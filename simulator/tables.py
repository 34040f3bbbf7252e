"""Static tables the generator draws from: surnames, name characters, places, carriers, banks.

Every identity built from these tables is synthetic. Frequencies are rough shapes of the
published distributions (a handful of surnames cover a third of people; compound surnames are
rare), good enough to make common-name collisions such as 张伟 or 王芳 frequent.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BANKS",
    "CARRIERS",
    "COMPOUND_SURNAMES",
    "DISTRICTS",
    "ESTATES",
    "FEMALE_CHARS",
    "GIVEN_BIGRAMS",
    "HOMOPHONE_POOL",
    "MALE_CHARS",
    "MOBILE_PREFIXES",
    "ROADS",
    "SURNAMES",
    "SURNAME_READINGS",
    "District",
]

# (surname, weight per 10,000 people). Hainan-typical surnames (符, 吉, 云, 邢) lifted a little.
# fmt: off
SURNAMES: Final[tuple[tuple[str, float], ...]] = (
    ("王", 710), ("李", 700), ("张", 660), ("刘", 540), ("陈", 460), ("杨", 310), ("黄", 260),
    ("赵", 240), ("吴", 210), ("周", 210), ("徐", 170), ("孙", 150), ("马", 150), ("朱", 140),
    ("胡", 130), ("郭", 120), ("何", 120), ("林", 130), ("高", 110), ("罗", 100), ("郑", 90),
    ("梁", 90), ("谢", 80), ("宋", 70), ("唐", 70), ("许", 70), ("韩", 70), ("冯", 70), ("邓", 70),
    ("曹", 60), ("彭", 60), ("曾", 60), ("肖", 60), ("田", 50), ("董", 50), ("袁", 50), ("潘", 50),
    ("于", 50), ("蒋", 50), ("蔡", 50), ("余", 50), ("杜", 40), ("叶", 40), ("程", 40), ("苏", 40),
    ("魏", 40), ("吕", 40), ("丁", 40), ("任", 40), ("沈", 40), ("姚", 40), ("卢", 40), ("姜", 30),
    ("崔", 30), ("钟", 30), ("谭", 30), ("陆", 30), ("汪", 30), ("范", 30), ("金", 30), ("石", 30),
    ("廖", 30), ("贾", 30), ("夏", 30), ("韦", 30), ("付", 30), ("方", 30), ("白", 20), ("邹", 20),
    ("孟", 20), ("熊", 20), ("秦", 20), ("邱", 20), ("江", 20), ("尹", 20), ("薛", 20), ("闫", 20),
    ("段", 20), ("雷", 20), ("侯", 20), ("龙", 20), ("史", 20), ("陶", 20), ("黎", 20), ("贺", 20),
    ("顾", 20), ("毛", 20), ("郝", 20), ("龚", 20), ("邵", 20), ("万", 20), ("钱", 20), ("严", 20),
    ("覃", 15), ("武", 15), ("戴", 15), ("莫", 15), ("孔", 15), ("向", 15), ("汤", 15), ("符", 40),
    ("吉", 10), ("云", 10), ("邢", 15), ("冼", 5), ("单", 5), ("区", 2), ("仇", 3), ("解", 3),
    ("查", 3), ("朴", 1), ("盖", 1),
)
# fmt: on
# fmt: off
COMPOUND_SURNAMES: Final[tuple[tuple[str, float], ...]] = (
    ("欧阳", 4), ("司徒", 1), ("上官", 0.5), ("诸葛", 0.5), ("司马", 0.5), ("皇甫", 0.3),
    ("慕容", 0.2), ("东方", 0.3), ("尉迟", 0.1),
)
# fmt: on
# Surname readings that differ from the common reading of the character (pypinyin gives the
# common one: 单 dan, 曾 ceng, 区 qu); banks and passports write the surname reading.
# fmt: off
SURNAME_READINGS: Final[dict[str, str]] = {
    "单": "shan", "曾": "zeng", "区": "ou", "仇": "qiu", "解": "xie", "查": "zha", "朴": "piao",
    "盖": "ge", "覃": "qin", "冼": "xian", "尉迟": "yuchi", "万": "wan", "员": "yun",
}
# fmt: on
# Given-name characters, most common first (weights fall off with rank).
MALE_CHARS: Final[str] = (
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林欢阳建国峰亮成志海东文新晨"
    "博轩然航家豪天泽睿铭皓嘉振德兴福生荣庆祥永春金力贵云松江山光红卫忠民利安宏彬坤毅锋"
    "晖琦哲思远瑞卓楠立佳鸿祥彪达诚炎坚胜晓子一"
)
FEMALE_CHARS: Final[str] = (
    "芳娜敏静丽艳娟霞秀英玲桂兰萍燕红梅琳丹婷雪慧莉倩颖洁琴云珍凤淑玉美佳欣怡雨涵诗梦"
    "思晓月瑶璐悦蕾菲薇露妍彤晶琪媛雯蓉惠琼春霏瑾岚晴清韵馨梓萱琬欢宁芬翠华平"
)
# Whole two-character given names that are far more common than their characters suggest.
GIVEN_BIGRAMS: Final[tuple[tuple[str, str], ...]] = (
    ("建国", "M"),
    ("建华", "M"),
    ("国强", "M"),
    ("志强", "M"),
    ("建军", "M"),
    ("晓明", "M"),
    ("浩然", "M"),
    ("子轩", "M"),
    ("海涛", "M"),
    ("文博", "M"),
    ("俊杰", "M"),
    ("宇航", "M"),
    ("秀英", "F"),
    ("桂英", "F"),
    ("丽娟", "F"),
    ("秀兰", "F"),
    ("子涵", "F"),
    ("梓萱", "F"),
    ("欣怡", "F"),
    ("雨涵", "F"),
    ("丽华", "F"),
    ("玉兰", "F"),
    ("海燕", "F"),
    ("晓燕", "F"),
)
# Characters that are not common in names but that a clerk's input method offers for the same
# sound: together with the name characters they give each character its homophones.
HOMOPHONE_POOL: Final[str] = (
    "玮炜维威薇巍为卫位伟围唯章彰樟掌汪旺望往黎理里礼丽莉立力利刘柳留流六方芳坊访放仿"
    "静敬镜境竞晶京精经井景军君均俊峻骏郡钧明鸣名铭茗敏闽民岷珉华桦骅化花画杰洁捷婕节"
    "杨阳洋扬羊徐许旭序叙绪李丽强蔷墙张章陈晨辰沉臣程成城承诚乘澄"
)


class District:
    """A county-level place in Hainan with its resident-id region code."""

    __slots__ = ("city", "code", "name", "towns")

    def __init__(self, code: str, city: str, name: str, towns: tuple[str, ...]) -> None:
        self.code = code
        self.city = city
        self.name = name
        self.towns = towns


DISTRICTS: Final[tuple[District, ...]] = (
    District("460105", "海口市", "秀英区", ("秀英街道", "海秀镇")),
    District("460106", "海口市", "龙华区", ("金宇街道", "城西镇")),
    District("460107", "海口市", "琼山区", ("府城街道", "云龙镇")),
    District("460108", "海口市", "美兰区", ("海甸街道", "白沙街道")),
    District("460202", "三亚市", "海棠区", ("海棠湾镇",)),
    District("460203", "三亚市", "吉阳区", ("河东街道", "田独镇")),
    District("460204", "三亚市", "天涯区", ("河西街道", "天涯镇")),
    District("460205", "三亚市", "崖州区", ("崖城镇",)),
    District("469001", "五指山市", "", ("通什镇", "南圣镇")),
    District("469002", "琼海市", "", ("嘉积镇", "博鳌镇")),
    District("469005", "文昌市", "", ("文城镇", "龙楼镇")),
    District("469006", "万宁市", "", ("万城镇", "和乐镇")),
    District("469007", "东方市", "", ("八所镇",)),
)
ROADS: Final[tuple[str, ...]] = (
    "海府路",
    "国兴大道",
    "龙昆南路",
    "滨海大道",
    "南沙路",
    "海秀中路",
    "白龙南路",
    "和平大道",
    "凤凰路",
    "解放西路",
    "人民大道",
    "大同路",
    "金盘路",
    "椰海大道",
    "红城湖路",
    "文明东路",
    "迎宾路",
    "榆亚路",
    "新风路",
    "胜利路",
    "建设路",
    "青年路",
    "友谊路",
    "中山路",
    "东风路",
)
ESTATES: Final[tuple[str, ...]] = (
    "金海花园",
    "椰林小区",
    "阳光城",
    "碧海苑",
    "滨江新城",
    "万绿园小区",
    "海景湾",
    "丽晶花园",
    "名门广场",
    "锦绣华庭",
    "绿城小区",
    "南国花园",
    "世纪家园",
    "新港小区",
    "东湖苑",
)
MOBILE_PREFIXES: Final[tuple[str, ...]] = (
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "198",
    "199",
)
# (bank code, card BIN, Chinese bank name)
BANKS: Final[tuple[tuple[str, str, str], ...]] = (
    ("ICBC", "622202", "中国工商银行"),
    ("CCB", "621700", "中国建设银行"),
    ("BOC", "621661", "中国银行"),
    ("ABC", "622848", "中国农业银行"),
    ("BOCOM", "622260", "交通银行"),
    ("HNRCB", "623091", "海南农商银行"),
)
CARRIERS: Final[tuple[str, ...]] = ("China Mobile", "China Unicom", "China Telecom")
