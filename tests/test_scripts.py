"""manifests.scripts on real text: one sentence per script (most of them the opening of article 1 of the
Universal Declaration of Human Rights), the composite CJK rules, and the compatibility rules."""

from __future__ import annotations

import pytest

from omnicorpus.manifests.scripts import (
    SIMPLIFIED_ONLY,
    TRADITIONAL_ONLY,
    char_script,
    dominant_script,
    script_counts,
    script_ranges,
    scripts_compatible,
)

# language type -> a real sentence in it
SENTENCES = {
    "eng_Latn": "All human beings are born free and equal in dignity and rights.",
    "vie_Latn": "Tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân phẩm và quyền.",
    "rus_Cyrl": "Все люди рождаются свободными и равными в своем достоинстве и правах.",
    "ell_Grek": "Όλοι οι άνθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα.",
    "arb_Arab": "يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.",
    "pes_Arab": "تمام افراد بشر آزاد به دنیا می‌آیند و از لحاظ حیثیت و حقوق با هم برابرند.",
    "heb_Hebr": "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם.",
    "hin_Deva": "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता और समानता प्राप्त है।",
    "ben_Beng": "সমস্ত মানুষ স্বাধীনভাবে সমান মর্যাদা এবং অধিকার নিয়ে জন্মগ্রহণ করে।",
    "pan_Guru": "ਸਾਰੇ ਇਨਸਾਨ ਆਜ਼ਾਦ ਅਤੇ ਬਰਾਬਰ ਪੈਦਾ ਹੁੰਦੇ ਹਨ।",
    "guj_Gujr": "પ્રતિષ્ઠા અને અધિકારોની દૃષ્ટિએ સર્વ માનવો જન્મથી સ્વતંત્ર અને સમાન હોય છે.",
    "ory_Orya": "ସମସ୍ତ ମନୁଷ୍ୟ ଜନ୍ମକାଳରୁ ସ୍ୱାଧୀନ ଏବଂ ମର୍ଯ୍ୟାଦା ଓ ଅଧିକାରରେ ସମାନ।",
    "tam_Taml": "மனிதப் பிறவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர்.",
    "tel_Telu": "ప్రతిపత్తిస్వత్వముల విషయమున మానవులెల్లరును జన్మతః స్వతంత్రులును సమానులును నగుదురు.",
    "kan_Knda": "ಎಲ್ಲಾ ಮಾನವರೂ ಸ್ವತಂತ್ರರಾಗಿಯೇ ಜನಿಸಿದ್ದಾರೆ.",
    "mal_Mlym": "മനുഷ്യരെല്ലാവരും തുല്യാവകാശങ്ങളോടും അന്തസ്സോടും സ്വാതന്ത്ര്യത്തോടുംകൂടി ജനിച്ചിട്ടുള്ളവരാണ്.",
    "sin_Sinh": "සියලු මනුෂ්‍යයෝ නිදහස්ව උපත ලබා ඇත.",
    "tha_Thai": "มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักดิ์และสิทธิ",
    "lao_Laoo": "ມະນຸດທຸກຄົນເກີດມາມີອິດສະລະ ແລະ ສະເໝີພາບກັນ.",
    "bod_Tibt": "འགྲོ་བ་མིའི་རིགས་རྒྱུད་ཡོངས་ལ་སྐྱེས་ཙམ་ཉིད་ནས་རང་དབང་ཡོད།",
    "mya_Mymr": "လူတိုင်းသည် တူညီ လွတ်လပ်သော ဂုဏ်သိက္ခာဖြင့် မွေးဖွားလာသူများ ဖြစ်သည်။",
    "khm_Khmr": "មនុស្សទាំងអស់ កើតមកមានសេរីភាព និងសមភាព ក្នុងសិទ្ធិ និងសេចក្ដីថ្លៃថ្នូរ។",
    "kat_Geor": "ყველა ადამიანი იბადება თავისუფალი და თანასწორი თავისი ღირსებითა და უფლებებით.",
    "hye_Armn": "Բոլոր մարդիկ ծնվում են ազատ ու հավասար իրենց արժանապատվությամբ ու իրավունքներով:",
    "amh_Ethi": "የሰው ልጅ ሁሉ ሲወለድ ነጻና በክብርና በመብትም እኩልነት ያለው ነው።",
    "div_Thaa": "ހުރިހާ އިންސާނުންވެސް ދުނިޔެއަށް އުފަންވަނީ މިނިވަންކަމުގައި",
    "syr_Syrc": "ܟܠܗܘܢ ܒܢܝܢܫܐ ܡܬܝܠܕܝܢ ܚܐܪܐ ܘܫܘܝܐ ܒܐܝܩܪܐ ܘܒܙܕܩܐ",
    "zgh_Tfng": "ⵉⵍⵓⵍ ⴷ ⵎⴰⵕⵕⴰ ⵎⴷⴷⵏ ⴳⴰⵏ ⵉⵍⴻⵍⵍⵉⵜⵏ ⵎⵙⴰⵡⴰⵏ ⴳ ⵡⴰⴷⴷⵓⵔ ⴷ ⵢⵉⵣⵔⴼⴰⵏ",
    "chr_Cher": "ᏂᎦᏓ ᎠᏂᏴᏫ ᏂᎨᎫᏓᎸᎾ ᎠᎴ ᎤᏂᏠᏱ ᎤᎾᏕᎿ ᏚᏳᎧᏛ ᎨᏒᎢ",
    "iku_Cans": "ᐃᓅᔪᓕᒫᑦ ᐊᓂᖅᑎᕆᔪᓕᒫᖅᑐᑦ ᐃᓅᓚᐅᕐᒪᑕ ᐃᓱᒪᕐᓱᕐᖢᑎᒃ",
    "sat_Olck": "ᱡᱚᱛᱚ ᱦᱚᱲ ᱠᱚ ᱡᱟᱱᱟᱢ ᱠᱷᱚᱱ ᱟᱡᱟᱣ ᱟᱨ ᱥᱚᱢᱟᱱ ᱠᱟᱱᱟ",
    "nqo_Nkoo": "ߡߐ߱ ߓߍ߯ ߘߎ߲߬ߞߊ߬ ߞߊ߬ ߓߐ߫ ߊ߬ ߥߟߏ߫ ߘߐ߫",
    "mvf_Mong": "ᠬᠦᠮᠦᠨ ᠪᠦᠷ ᠲᠥᠷᠥᠵᠦ ᠮᠡᠨᠳᠡᠯᠡᠬᠦ ᠡᠷᠬᠡ ᠴᠢᠯᠥᠭᠡ ᠲᠡᠢ",
    "kor_Hang": "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다.",
    "jpn_Jpan": "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。",
    "cmn_Hans": "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。",
    "cmn_Hant": "人人生而自由，在尊嚴和權利上一律平等。他們賦有理性和良心，並應以兄弟關係的精神相對待。",
    "yue_Hant": "佢哋喺香港讀緊書，講廣東話。",
}


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_dominant_script_of_real_sentences(language):
    script = language.split("_")[1]
    assert dominant_script(SENTENCES[language]) == script
    assert scripts_compatible(script, dominant_script(SENTENCES[language]))


def test_at_least_thirty_scripts():
    assert len({lang.split("_")[1] for lang in SENTENCES}) >= 30
    codes = {char_script(ch) for text in SENTENCES.values() for ch in text} - {None}
    assert len(codes) >= 30


def test_japanese_is_jpan_in_all_mixtures():
    assert dominant_script("東京に行きます") == "Jpan"  # kanji + hiragana
    assert dominant_script("コンピューターを使う") == "Jpan"  # katakana + hiragana, no kanji
    assert dominant_script("東京タワー") == "Jpan"  # kanji + katakana
    assert dominant_script("ありがとう") == "Hira"  # one kind of kana alone
    assert dominant_script("コンピューター") == "Kana"
    # Japanese with a short Latin word stays Japanese
    assert dominant_script("私はiPhoneを使っています") == "Jpan"


def test_korean_is_hang_with_or_without_hanja():
    assert dominant_script("대한민국의 국민") == "Hang"
    assert dominant_script("大韓民國의 國民이 되는 要件은 法律로 정한다") == "Hang"


def test_simplified_and_traditional_chinese():
    assert dominant_script("这是我们的国家，我说的话都是真的。") == "Hans"
    assert dominant_script("這是我們的國家，我說的話都是真的。") == "Hant"
    # no character that tells the two apart: plain Han
    assert dominant_script("人人生而自由") == "Hani"
    assert dominant_script("山上有一个人") == "Hans"  # 个 alone decides


def test_no_letters_is_none():
    assert dominant_script("") is None
    assert dominant_script("12345 67-89, 3.14") is None
    assert dominant_script("١٢٣ ४५६ ...!? 😀") is None  # Arabic-Indic and Devanagari digits, emoji
    assert script_counts("2024-01-01") == {}


def test_latin_brand_inside_cyrillic_text_is_cyrillic():
    text = "Я купил новый iPhone в магазине Apple на Тверской улице."
    assert dominant_script(text) == "Cyrl"
    counts = script_counts(text)
    assert counts["Latn"] == 11 and counts["Cyrl"] > counts["Latn"]


def test_script_counts_counts_letters_only_in_first_appearance_order():
    assert script_counts("Hello, мир! 123") == {"Latn": 5, "Cyrl": 3}
    assert list(script_counts("мир hello")) == ["Cyrl", "Latn"]
    # vowel signs (marks) and the danda are not counted, the consonants are
    assert script_counts("नमस्ते।") == {"Deva": 4}  # न म स त
    assert script_counts("東京タワー") == {"Hani": 2, "Kana": 2}  # ー is Common


@pytest.mark.parametrize(
    ("ch", "code"),
    [
        ("a", "Latn"), ("Z", "Latn"), ("é", "Latn"), ("ŋ", "Latn"), ("Ａ", "Latn"), ("ﬁ", "Latn"),
        ("Ж", "Cyrl"), ("ω", "Grek"), ("ἀ", "Grek"), ("Ω", "Grek"), ("ա", "Armn"), ("ש", "Hebr"),
        ("ب", "Arab"), ("ـ", "Arab"), ("ﻻ", "Arab"), ("ܐ", "Syrc"), ("ހ", "Thaa"), ("क", "Deva"),
        ("ि", "Deva"), ("ক", "Beng"), ("ਕ", "Guru"), ("ક", "Gujr"), ("କ", "Orya"), ("க", "Taml"),
        ("క", "Telu"), ("ಕ", "Knda"), ("ക", "Mlym"), ("ක", "Sinh"), ("ก", "Thai"), ("ກ", "Laoo"),
        ("ཀ", "Tibt"), ("က", "Mymr"), ("ა", "Geor"), ("Ა", "Geor"), ("ሀ", "Ethi"), ("Ꭰ", "Cher"),
        ("ꭰ", "Cher"), ("ᐃ", "Cans"), ("ᠠ", "Mong"), ("ក", "Khmr"), ("ᱚ", "Olck"), ("ߊ", "Nkoo"),
        ("ⴰ", "Tfng"), ("한", "Hang"), ("ㄱ", "Hang"), ("あ", "Hira"), ("ア", "Kana"), ("ｱ", "Kana"),
        ("漢", "Hani"), ("々", "Hani"), ("𠀀", "Hani"), ("ㄅ", "Bopo"), ("ꆈ", "Yiii"), ("𞤀", "Adlm"),
    ],
)
def test_char_script(ch, code):
    assert char_script(ch) == code


@pytest.mark.parametrize(
    "ch",
    ["1", "٣", "४", " ", "\u00a0", ",", "।", "、", "。", "،", "؟", "«", "'", "ʼ", "\u0301", "\u200c",
     "ー", "・", "$", "€", "😀", "\u200b", "\ufeff", "𝐀"],
)
def test_char_script_common_and_inherited_are_none(ch):
    assert char_script(ch) is None


def test_range_table_and_han_tables():
    assert script_ranges(["Tfng"]) == [(0x2D30, 0x2D7F)]
    assert (0x4E00, 0x9FFF) in script_ranges(["Hani"])
    assert len(SIMPLIFIED_ONLY) >= 300 and len(TRADITIONAL_ONLY) >= 300
    assert not SIMPLIFIED_ONLY & TRADITIONAL_ONLY
    for pair in ("这這", "们們", "国國", "说說", "为為", "时時"):
        assert pair[0] in SIMPLIFIED_ONLY and pair[1] in TRADITIONAL_ONLY


@pytest.mark.parametrize(
    ("declared", "detected", "ok"),
    [
        ("Latn", "Latn", True),
        ("Latn", "Cyrl", False),
        ("Cyrl", "Latn", False),
        ("Arab", "Hebr", False),
        ("Hani", "Hans", True),
        ("Hani", "Hant", True),
        ("Hani", "Jpan", True),
        ("Hans", "Hani", True),
        ("Hant", "Hani", True),
        ("Jpan", "Hani", True),
        ("Kore", "Hani", True),
        ("Hans", "Hant", False),
        ("Hant", "Hans", False),
        ("Jpan", "Jpan", True),
        ("Jpan", "Hira", True),
        ("Jpan", "Kana", True),
        ("Jpan", "Hans", True),
        ("Jpan", "Hant", True),
        ("Jpan", "Hang", False),
        ("Kore", "Hang", True),
        ("Kore", "Hant", True),
        ("Kore", "Jpan", False),
        ("Hang", "Hang", True),
        ("Hang", "Jpan", False),
        ("Hans", "Jpan", False),
        ("Aran", "Arab", True),
        ("Latf", "Latn", True),
        ("Zzzz", "Thai", True),
        ("Latn", None, True),
        ("Hans", None, True),
    ],
)
def test_scripts_compatible(declared, detected, ok):
    assert scripts_compatible(declared, detected) is ok


def test_compatibility_of_detected_scripts_with_declared_languages():
    assert scripts_compatible("Jpan", dominant_script("ありがとうございます"))
    assert scripts_compatible("Jpan", dominant_script("日本語"))  # kanji only: Hani
    assert scripts_compatible("Hang", dominant_script("大韓民國의 國民"))
    assert scripts_compatible("Hant", dominant_script("佢哋係學生"))
    assert not scripts_compatible("Hans", dominant_script("這是我們的國家"))
    assert not scripts_compatible("Latn", dominant_script(SENTENCES["rus_Cyrl"]))
    assert scripts_compatible("Latn", dominant_script("2024 — 12:30 !!"))
