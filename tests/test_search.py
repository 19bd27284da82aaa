"""Search that understands people (docs/kiosk.md "Everyday names"): the queries citizens actually type or
say at a help desk find their matter in the demo hall, the ranking rule holds, and the kiosk, /info
and GET /api/v1/matters?q= all answer from the same search."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import jsonschema
import pytest

from tongban.config import ConfigError, Matter, load_hall_config, parse_hall_config
from tongban.queue.search import TIERS, MatterSearch, shipped_words
from tongban.web.api.openapi import openapi_document

from .apiclient import make_hall_client
from .conftest import small_hall_doc

DEMO_FILE = Path("config/demo-hall.toml")
DEMO = load_hall_config(DEMO_FILE)
SEARCH = MatterSearch.for_config(DEMO)
NAMES = {m.code: m.name_zh for m in DEMO.matters}

# How people ask, and the matter they mean (demo hall). Each must be in the first three answers.
EVERYDAY_QUERIES = [
    # Chinese as said at the desk: fillers, verbs, everyday words
    ("我要办社保卡", "RSJ-009"),
    ("社保卡丢了", "RSJ-012"),
    ("社保卡丢了怎么补办", "RSJ-013"),
    ("社保卡坏了想换一张", "RSJ-013"),
    ("新社保卡怎么激活", "RSJ-010"),
    ("查一下我的社保卡能不能用", "RSJ-011"),
    ("我失业了", "RSJ-006"),
    ("失业了去哪登记", "RSJ-006"),
    ("领失业金", "RSJ-007"),
    ("社保转到外地", "RSJ-001"),
    ("农村养老保险转过来", "RSJ-002"),
    ("退休了要做认证", "RSJ-004"),
    ("养老金发到哪张卡 换银行卡", "RSJ-014"),
    ("打印社保缴费记录", "RSJ-005"),
    ("查社保", "RSJ-005"),
    ("工伤认证", "RSJ-015"),
    ("我想开公司", "SCJG-001"),
    ("开个体户", "SCJG-004"),
    ("营业执照丢了", "SCJG-008"),
    ("执照丢了怎么办", "SCJG-008"),
    ("公司关门不干了", "SCJG-003"),
    ("公司改地址", "SCJG-002"),
    ("开饭店要办什么证", "SCJG-020"),
    ("开药店", "SCJG-016"),
    ("起公司名字", "SCJG-009"),
    ("毕业证公证", "SFJ-001"),
    ("驾照公证", "SFJ-003"),
    ("驾照到期了换证", "YZ-003"),
    ("房子查档", "ZRZY-001"),
    ("房子抵押贷款", "ZRZY-002"),
    ("贷款还完了解押", "ZRZY-003"),
    ("孩子的出生证", "WJW-001"),
    ("医保异地报销", "YBJ-001"),
    ("在外地看病备案", "YBJ-001"),
    ("公积金开户", "GJJ-001"),
    ("退休取公积金", "GJJ-003"),
    ("电工证丢了", "YJJ-001"),
    ("寄材料", "YZ-001"),
    ("邮寄结果", "YZ-002"),
    ("怎么办跨省业务 咨询", "ZWFW-001"),
    ("失业登计", "RSJ-006"),  # a wrong character that sounds right
    # pinyin: full, initials, with spaces, misspelled
    ("shebaoka", "RSJ-009"),
    ("sbk", "RSJ-009"),
    ("shiyedengji", "RSJ-006"),
    ("siyedenji", "RSJ-006"),  # sh/s, ng/n
    ("shiyedenhji", "RSJ-006"),  # one letter too many
    ("gongjijin", "GJJ-001"),
    ("gjj", "GJJ-001"),
    ("gongjijing", "GJJ-001"),  # n/ng
    ("yingyezhizhao", "SCJG-008"),
    ("yinyezizhao", "SCJG-008"),  # ng/n, zh/z
    ("jiazhao", "SFJ-003"),
    ("yibao", "YBJ-001"),
    ("chushengzhengming", "WJW-001"),
    ("cszm", "WJW-001"),  # 出生证明, the demo hall's alias
    ("xueligongzheng", "SFJ-001"),
    ("xuelgongzheng", "SFJ-001"),  # a letter left out
    ("budongchan", "ZRZY-001"),
    ("shebao zhuanyi", "RSJ-001"),
    # English, and a matter's code
    ("unemployment", "RSJ-006"),
    ("business licence", "SCJG-008"),
    ("RSJ-012", "RSJ-012"),
]


def test_the_table_of_everyday_queries_is_long_enough():
    assert len(EVERYDAY_QUERIES) >= 40
    assert {code for _, code in EVERYDAY_QUERIES} <= set(NAMES)


@pytest.mark.parametrize(("query", "code"), EVERYDAY_QUERIES, ids=[q for q, _ in EVERYDAY_QUERIES])
def test_an_everyday_query_finds_its_matter_in_the_first_three(query, code):
    found = SEARCH.search(query)
    assert code in found[:3], f"{query!r}: {NAMES[code]} not in {[NAMES[c] for c in found[:5]]}"


@pytest.mark.parametrize(
    "query", ["nothingatall", "qqqq", "zzzzz", "hello world", "我要", "我想办一下", "了", "！！", ""]
)
def test_noise_and_bare_fillers_find_nothing(query):
    assert SEARCH.search(query) == []


def test_a_query_that_says_more_narrows_the_answer():
    # Every social security card matter for "社保卡"; only the loss and replacement ones once it was lost.
    cards = set(SEARCH.search("社保卡"))
    assert {"RSJ-009", "RSJ-010", "RSJ-011", "RSJ-012", "RSJ-013"} <= cards
    assert set(SEARCH.search("社保卡丢了")) == {"RSJ-012", "RSJ-013"}


def _matter(code: str, name: str, aliases: tuple[str, ...] = ()) -> Matter:
    return Matter(code, name, code, "d", 1, "on-site", 0, "-", (), aliases=aliases)


def test_ranking_name_then_everyday_names_then_parts_then_fuzzy():
    # In the hall file the worst comes first, so only the ranking can put them in order.
    matters = [
        _matter("fuzzy", "摄宝登记"),  # only sounds like 社保
        _matter("part", "补办社保证明"),  # 社保 inside the name
        _matter("equivalent", "社会保险登记"),  # 社保 ≈ 社会保险 (the shipped table)
        _matter("alias", "养老待遇认证", aliases=("社保待遇",)),  # the hall file's everyday name
        _matter("prefix", "社保卡申领"),  # the name begins with it
        _matter("other", "失业登记"),
    ]
    search = MatterSearch(matters)
    hits = search.hits("社保")
    assert [h.code for h in hits] == ["prefix", "alias", "equivalent", "part", "fuzzy"]
    assert [TIERS[h.tier] for h in hits] == ["name", "everyday", "everyday", "part", "fuzzy"]
    assert search.search("社保卡申领") == ["prefix"]  # the exact name, nothing else

    pinyin = MatterSearch([m for m in matters if m.code != "fuzzy"] + [_matter("misspelt", "色宝登记")])
    assert [TIERS[h.tier] for h in pinyin.hits("shebao")] == ["name", "everyday", "everyday", "part", "fuzzy"]
    assert pinyin.search("shebao")[0] == "prefix" and pinyin.search("shebao")[-1] == "misspelt"


def test_the_kiosk_keyboard_finds_full_and_misspelt_pinyin_and_lights_only_live_keys():
    assert SEARCH.search("shebaoka", keyboard=True)[0] == "RSJ-009"
    assert "RSJ-006" in SEARCH.search("siyedenji", keyboard=True)
    assert SEARCH.search("我要", keyboard=True) == []  # the keyboard has letters only
    for query in ("she", "sb", "siye", "gjj", "sheb"):
        live = SEARCH.next_letters(query)
        assert 0 < len(live) < 26
        for letter in "abcdefghijklmnopqrstuvwxyz":  # a lit key finds something, a dimmed one nothing
            assert bool(SEARCH.search(query + letter, keyboard=True)) == (letter in live), (query, letter)


def test_the_shipped_table_has_the_common_equivalences():
    words = shipped_words()
    for said, meant in [
        ("社保", "社会保险"),
        ("丢了", "挂失"),
        ("开", "设立"),
        ("医保", "医疗保障"),
        ("公积金", "住房公积金"),
        ("执照", "营业执照"),
        ("驾照", "驾驶证"),
        ("退休", "养老"),
        ("换", "换领"),
        ("办", "申领"),
        ("查", "查询"),
        ("迁户口", "户籍迁移"),
    ]:
        assert meant in words.equivalents[said]
    assert {"我要", "想", "怎么", "在哪", "了", "的"} <= words.fillers


def _demo_doc() -> dict:
    return tomllib.loads(DEMO_FILE.read_text(encoding="utf-8"))


def test_a_hall_extends_the_table_in_its_hall_file():
    assert MatterSearch.for_config(DEMO).search("敬老金") == []
    doc = _demo_doc()
    doc["search"] = {"equivalents": {"敬老金": ["养老保险待遇"], "社保": ["个人权益"]}}
    hall = parse_hall_config(doc, "demo")
    search = MatterSearch.for_config(hall)
    assert set(search.search("敬老金")[:2]) == {"RSJ-004", "RSJ-014"}
    assert "RSJ-005" in search.search("查社保")  # 个人权益记录查询, added to the shipped 社保
    assert "RSJ-009" in search.search("社保卡")  # the shipped words still count


@pytest.mark.parametrize(
    ("spoil", "field", "words"),
    [
        (lambda d: d["matters"][0].update(aliases="社保"), "matters[0].aliases", "expected an array of strings"),
        (lambda d: d["matters"][1].update(aliases=["失业", ""]), "matters[1].aliases[1]", "is empty"),
        (lambda d: d["matters"][1].update(aliases=["失业", 3]), "matters[1].aliases[1]", "is a number (3)"),
        (lambda d: d["matters"][1].update(aliases=["失业", "失业"]), "matters[1].aliases[1]", "listed twice"),
        (lambda d: d["matters"][2].update(aliases=["长" * 21]), "matters[2].aliases[0]", "at most 20"),
        (lambda d: d.update(search=[]), "search", "expected a table"),
        (lambda d: d.update(search={"synonyms": {}}), "search.synonyms", "unknown key"),
        (lambda d: d.update(search={"equivalents": ["社保"]}), "search.equivalents", "expected a table"),
        (lambda d: d.update(search={"equivalents": {"社保": "社会保险"}}), "search.equivalents.社保", "an array"),
        (lambda d: d.update(search={"equivalents": {"社保": []}}), "search.equivalents.社保", "is empty"),
        (
            lambda d: d.update(search={"equivalents": {"社保": ["社会保险", 1]}}),
            "search.equivalents.社保[1]",
            "a number",
        ),
        (lambda d: d.update(search={"equivalents": {" ": ["x"]}}), "search.equivalents. ", "not a search word"),
    ],
)
def test_bad_aliases_and_equivalents_name_the_field(spoil, field, words):
    doc = small_hall_doc()
    spoil(doc)
    with pytest.raises(ConfigError) as info:
        parse_hall_config(doc, "hall.toml")
    problem = next((p for p in info.value.problems if p.startswith(f"{field}:")), None)
    assert problem is not None, info.value.problems
    assert words in problem


def test_the_demo_hall_carries_aliases():
    assert "出生证明" in DEMO.matter("WJW-001").aliases
    assert sum(1 for m in DEMO.matters if m.aliases) >= 10


# ---------- the three places that search ----------


@pytest.fixture
def demo(tmp_path, clock):
    return make_hall_client(tmp_path, DEMO, clock)


def test_api_lists_every_matter_or_the_matches_best_first(demo):
    doc = openapi_document()
    op = doc["paths"]["/api/v1/matters"]["get"]
    schema = {**op["responses"]["200"]["content"]["application/json"]["schema"], "components": doc["components"]}
    everything = demo.call("GET", "/matters").get_json()
    jsonschema.validate(everything, schema)
    assert [m["code"] for m in everything] == [m.code for m in DEMO.matters]
    assert "match" not in everything[0]

    response = demo.call("GET", "/matters", query_string={"q": "社保卡丢了"})
    found = response.get_json()
    assert response.status_code == 200
    jsonschema.validate(found, schema)
    assert [m["code"] for m in found] == ["RSJ-012", "RSJ-013"]
    assert found[0]["name_zh"] == "社会保障卡挂失与解挂" and found[0]["name_en"].startswith("Reporting loss")
    assert found[0]["department"] == "rsj" and found[0]["line"] == "B" and found[0]["match"] == "everyday"

    by_pinyin = demo.call("GET", "/matters", query_string={"q": "shiyedengji"}).get_json()
    assert by_pinyin[0]["code"] == "RSJ-006" and by_pinyin[0]["match"] == "name"
    assert demo.call("GET", "/matters", query_string={"q": "nothingatall"}).get_json() == []
    assert any(p["name"] == "q" for p in op["parameters"])


@pytest.mark.parametrize("q", ["x" * 5000, "\x00\x01", "%%%", "😀😀", "　", "'; drop table matters; --"])
def test_api_search_takes_any_text_without_failing(demo, q):
    response = demo.call("GET", "/matters", query_string={"q": q})
    assert response.status_code == 200 and isinstance(response.get_json(), list)


def test_info_page_answers_everyday_chinese_and_pinyin_best_first(demo):
    client = demo.app.test_client()
    html = client.get("/info", query_string={"q": "我要办社保卡"}).get_data(as_text=True)
    shown = re.findall(r'data-matter="([^"]+)"', html)
    assert shown[0] == "RSJ-009" and "SCJG-001" not in shown
    misspelt = client.get("/info", query_string={"q": "siyedenji"}, headers={"HX-Request": "true"})
    assert re.findall(r'data-matter="([^"]+)"', misspelt.get_data(as_text=True)) == ["RSJ-006"]
    lost = client.get("/info", query_string={"q": "营业执照丢了"}).get_data(as_text=True)
    assert re.findall(r'data-matter="([^"]+)"', lost)[0] == "SCJG-008"


def test_kiosk_search_screen_finds_full_pinyin_and_everyday_names(demo):
    client = demo.app.test_client()
    assert client.get(f"/enrol?token={demo.kiosk}").status_code == 302
    html = client.get("/kiosk/kiosk-1/search?q=shebaoka").get_data(as_text=True)
    assert "社会保障卡申领" in html and "SHEBAOKA" in html
    assert re.search(r'class="k-key dead"[^>]*data-key="q"', html)  # nothing continues "shebaokaq"
    jiazhao = client.get("/kiosk/kiosk-1/search?q=jiazhao").get_data(as_text=True)
    assert "机动车驾驶证公证" in jiazhao  # 驾照, an everyday name of 驾驶证
    misspelt = client.get("/kiosk/kiosk-1/search?q=siyedenji").get_data(as_text=True)
    assert "失业登记" in misspelt
