import pytest

from renewals.core.masking import mask_id_number, mask_name, mask_numbers, mask_phone, mask_plate, mask_text


def test_phone_keeps_first_three_and_last_four_digits():
    assert mask_phone("13812348000") == "138****8000"
    assert mask_phone("+8613812348000") == "138****8000"
    assert mask_phone("+862162345678") == "216***5678", "a landline (a family member's, say) keeps no country code"
    assert mask_phone("+1 212 555 0100") == "121****0100"
    assert mask_phone("123") == "***"
    assert mask_phone(None) is None


def test_id_number_shows_only_last_four():
    assert mask_id_number("310101199001011234") == "**************1234"
    assert mask_id_number("12") == "12"


def test_name_and_plate():
    assert mask_name("张三丰") == "张**"
    assert mask_plate("沪A12345") == "沪A***45"


def test_numbers_inside_text_are_masked():
    assert mask_numbers("请致电13812348000或+8613912345678") == "请致电138****8000或139****5678"
    assert mask_numbers("保单PDAA2026 金额4386") == "保单PDAA2026 金额4386"


def test_free_text_masks_phones_as_people_write_them_and_id_numbers_always():
    note = "客户新号 139 1234 5678,备用 +86 138-1234-8000,座机 021-6234 5678,身份证 31010119900101123X"
    masked = mask_numbers(note)
    for kept in ("139****5678", "138****8000", "31010119900101123X"[-4:]):
        assert kept in masked
    for hidden in ("139 1234 5678", "1234 5678", "138-1234-8000", "6234 5678", "31010119900101"):
        assert hidden not in masked, hidden
    assert mask_text("身份证310101199001011234", contact=True, identity=True) == "身份证**************1234"
    assert mask_text("电话13912345678", contact=True, identity=True) == "电话13912345678"


def test_free_text_masks_plates_vins_and_names_for_readers_without_identity():
    note = "钱多多的车沪A12345(VIN LSVAB12C3D4E5F6G7)续保,另一辆沪A·D12345"
    assert mask_text(note, contact=False, identity=True, names=["钱多多"]) == note
    masked = mask_text(note, contact=False, identity=False, names=["钱多多"])
    for hidden in ("钱多多", "沪A12345", "LSVAB12C3D4E5F6G7", "D12345"):
        assert hidden not in masked, hidden
    assert masked.startswith("钱**的车沪A***45")


# The security review's spellings, and their kin: any mix of spaces, dashes, dots, slashes,
# brackets and asterisks between the digits, full-width forms included.
MOBILE_SPELLINGS = [
    "13093393106", "1309 339 3106", "130 93 39 31 06", "130/9339/3106", "1.3.0.9.3.3.9.3.1.0.6", "(130)9339*3106",
    "130-9339-3106", "130 - 9339 - 3106", "1 3 0 9 3 3 9 3 1 0 6", "130_9339_3106", "130（9339）3106",
    "１３０ ９３３９ ３１０６", "130【9339】3106", "130\\9339\\3106", "130·9339·3106",
    "+86 130 9339 3106", "+86-130-9339-3106", "(+86)130 9339 3106", "+86 (130) 9339-3106", "0086 130 9339 3106",
    "86-13093393106", "8613093393106",
]
LANDLINE_SPELLINGS = ["021-6234 5678", "(021)6234-5678", "021.6234.5678", "021/6234/5678", "02162345678",
                      "+86 21 6234 5678", "0086-21-62345678"]
ID_SPELLINGS = [
    "31010119900101123X", "310101 19900101 123X", "310101-19900101-123X", "3101 0119 9001 0112 3X",
    "310.101.199.001.011.23x", "310101/1990/0101/123/X", "(310101)19900101*123X", "３１０１０１１９９００１０１１２３Ｘ",
]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch in "Xx")


@pytest.mark.parametrize("spelling", MOBILE_SPELLINGS)
def test_a_mobile_written_with_any_separators_keeps_only_its_first_three_and_last_four_digits(spelling):
    masked = mask_numbers(f"客户新号{spelling},请回电")
    assert "130****3106" in masked and _digits(masked) == "1303106", masked
    assert mask_numbers(f"客户新号{spelling},请回电", keep_phones=True) == f"客户新号{spelling},请回电"


def test_any_other_seven_digits_or_more_are_masked_as_a_phone_however_separated():
    """A mistyped mobile (10 digits, as the review wrote one), a local number, a card number."""
    for written, shown in (("(130)933*3106", "(130***3106"), ("6234 5678", "623*5678"),
                           ("6222 0212 3456 7890 123", "622************0123")):
        assert mask_numbers(f"号码 {written} 。") == f"号码 {shown} 。"
        assert mask_numbers(f"号码 {written} 。", keep_phones=True) == f"号码 {written} 。"


@pytest.mark.parametrize("spelling", LANDLINE_SPELLINGS)
def test_a_landline_written_with_any_separators_is_masked(spelling):
    masked = mask_numbers(f"座机{spelling}。")
    assert _digits(masked) in ("0215678", "2165678"), masked  # area code (with or without its 0) and last 4
    assert "6234" not in masked.replace("*", ""), masked


@pytest.mark.parametrize("spelling", ID_SPELLINGS)
def test_an_id_number_written_with_any_separators_shows_only_its_last_four_for_every_reader(spelling):
    for keep_phones in (False, True):
        masked = mask_numbers(f"身份证 {spelling} 已核对", keep_phones=keep_phones)
        assert _digits(masked).upper() == "123X" and "1990" not in masked, masked
        assert masked.startswith("身份证 ") and masked.endswith(" 已核对"), masked


def test_old_fifteen_digit_id_numbers_are_masked_too():
    assert _digits(mask_numbers("老身份证 310101 900101 123")) == "1123"


def test_several_numbers_in_one_run_are_told_apart():
    masked = mask_numbers("2026-03-15 130 9339 3106 / 021-6234 5678 ; 310101 19900101 123X")
    assert masked.startswith("2026-03-15 130****3106"), masked
    for hidden in ("9339", "6234", "19900101"):
        assert hidden not in masked, masked


@pytest.mark.parametrize("ordinary", [
    "2026-03-15", "2026/03/15", "2026.03.15", "2026-03-15 10:30", "2026-03-15 - 2026-04-15", "15.03.2026",
    "保费 4,386.50 元", "保费4386.50元", "¥ 12,345.00", "保单PDAA20263101010000003", "保单 PDAA-2026-3101-0100-0000-3",
    "新保单号PDAA20273101010000099已出单", "车型SVW71 朗逸", "VIN LSVAB12C3D4E5F6G7", "T-18 到 T-12", "9:00-18:00",
    "第 1 2 3 期", "12.5%", "理赔 2 次, 共 3 辆车", "版本 1.2.3.4", "邮编 200001", "保费 12345.67 元",
    "保期 2026.03-2027.03", "2025-2026 年度", "2026-03-15 2027-03-14 12:00",
])
def test_ordinary_numbers_are_left_alone(ordinary):
    assert mask_numbers(ordinary) == ordinary
