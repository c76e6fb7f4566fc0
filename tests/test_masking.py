from renewals.masking import mask_id_number, mask_name, mask_numbers, mask_phone, mask_plate


def test_phone_keeps_first_three_and_last_four_digits():
    assert mask_phone("13812348000") == "138****8000"
    assert mask_phone("+8613812348000") == "138****8000"
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
