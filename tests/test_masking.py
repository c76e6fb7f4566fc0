from renewals.masking import mask_id_number, mask_name, mask_numbers, mask_phone, mask_plate, mask_text


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
