"""pipelines.normalize on real sentences (most are article 1 of the Universal Declaration of Human Rights)
in many scripts, with exact expected outputs, and the idempotence property."""

from __future__ import annotations

import random

import pytest

from omnicorpus.pipelines.normalize import LANGUAGE_OVERRIDES, normalize_text

# (language, raw transcript, normalized)
REAL = [
    (
        "eng_Latn",
        "All human beings are born free and equal in dignity and rights. They don’t—can't—stop!",
        "all human beings are born free and equal in dignity and rights they don't can't stop",
    ),
    (
        "eng_Latn",
        'In 1948, the U.N. adopted the "Universal Declaration" (UDHR) [12].',
        "in the u n adopted the universal declaration udhr",
    ),
    (
        "fra_Latn",
        "Aujourd’hui, tous les êtres humains naissent libres et égaux en dignité et en droits. « L’homme »",
        "aujourd'hui tous les êtres humains naissent libres et égaux en dignité et en droits l'homme",
    ),
    (
        "deu_Latn",
        "Alle Menschen sind frei und gleich an Würde und Rechten geboren. Die STRAẞE ist groß.",
        "alle menschen sind frei und gleich an würde und rechten geboren die straße ist groß",
    ),
    (
        "tur_Latn",
        "Bütün İnsanlar hür, haysiyet ve haklar bakımından eşit doğarlar. IĞDIR'da ISPARTA!",
        "bütün insanlar hür haysiyet ve haklar bakımından eşit doğarlar ığdır'da ısparta",
    ),
    (
        "vie_Latn",
        "Tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân phẩm và quyền.",
        "tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân phẩm và quyền",
    ),
    (
        "rus_Cyrl",
        "Все люди рождаются свободными и равными в своем достоинстве и правах.",
        "все люди рождаются свободными и равными в своем достоинстве и правах",
    ),
    (
        "ukr_Cyrl",
        "Усі люди народжуються вільними і рівними у своїй гідності та правах. М’ясо, пір'я, мʼята.",
        "усі люди народжуються вільними і рівними у своїй гідності та правах м'ясо пір'я м'ята",
    ),
    (
        "ell_Grek",
        "ΟΛΟΙ ΟΙ ΑΝΘΡΩΠΟΙ γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα· ΤΟΥΣ",
        "ολοι οι ανθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα τους",
    ),
    (
        "arb_Arab",
        "يولد جميع النـــاس أحرارًا متساوين في الكرامة والحقوق، وقد وهبوا عقلاً وضميرًا؟",
        "يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق وقد وهبوا عقلاً وضميرًا",
    ),
    (
        "pes_Arab",
        "تمام افراد بشر آزاد به دنیا می\u200cآیند و از لحاظ حیثیت و حقوق با هم برابرند؛ كتاب",
        "تمام افراد بشر آزاد به دنیا می\u200cآیند و از لحاظ حیثیت و حقوق با هم برابرند کتاب",
    ),
    (
        "heb_Hebr",
        "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם. ג'ירפה, צ׳יפס!",
        "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם ג'ירפה צ'יפס",
    ),
    (
        "hin_Deva",
        "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता प्राप्त है। वे भाई हैं॥ १९४८",
        "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता प्राप्त है वे भाई हैं",
    ),
    (
        "ben_Beng",
        "সমস্ত মানুষ স্বাধীনভাবে সমান মর্যাদা এবং অধিকার নিয়ে জন্মগ্রহণ করে।",
        "সমস্ত মানুষ স্বাধীনভাবে সমান মর্যাদা এবং অধিকার নিয়ে জন্মগ্রহণ করে",
    ),
    (
        "tam_Taml",
        "மனிதப் பிறவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர்; அவர்கள் மதிப்பிலும், உரிமைகளிலும் சமமானவர்கள்.",
        "மனிதப் பிறவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர் அவர்கள் மதிப்பிலும் உரிமைகளிலும் சமமானவர்கள்",
    ),
    (
        "tha_Thai",
        "มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักดิ์และสิทธิ ต่างมีเหตุผลและมโนธรรม",
        "มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักดิ์และสิทธิ ต่างมีเหตุผลและมโนธรรม",
    ),
    (
        "cmn_Hans",
        "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。",
        "人人生而自由在尊严和权利上一律平等他们赋有理性和良心并应以兄弟关系的精神相对待",
    ),
    (
        "jpn_Jpan",
        "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。",
        "すべての人間は生まれながらにして自由でありかつ尊厳と権利とについて平等である",
    ),
    (
        "kor_Hang",
        "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다. "
        "인간은 천부적으로 이성과 양심을 부여받았으며!",
        "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다 "
        "인간은 천부적으로 이성과 양심을 부여받았으며",
    ),
    (
        "kat_Geor",
        "ყველა ადამიანი იბადება თავისუფალი და თანასწორი თავისი ღირსებითა და უფლებებით. ᲡᲐᲥᲐᲠᲗᲕᲔᲚᲝ",
        "ყველა ადამიანი იბადება თავისუფალი და თანასწორი თავისი ღირსებითა და უფლებებით საქართველო",
    ),
    (
        "hye_Armn",
        "Բոլոր մարդիկ ծնվում են ազատ ու հավասար իրենց արժանապատվությամբ ու իրավունքներով: Ինչո՞ւ։",
        "բոլոր մարդիկ ծնվում են ազատ ու հավասար իրենց արժանապատվությամբ ու իրավունքներով ինչու",
    ),
    (
        "amh_Ethi",
        "የሰው ልጅ ሁሉ ሲወለድ ነጻና በክብርና በመብትም እኩልነት ያለው ነው። የተፈጥሮ ማስተዋልና ሕሊና ስላለው፣ አንዱ",
        "የሰው ልጅ ሁሉ ሲወለድ ነጻና በክብርና በመብትም እኩልነት ያለው ነው የተፈጥሮ ማስተዋልና ሕሊና ስላለው አንዱ",
    ),
    # the traditional Ethiopic word separator ፡ is a space
    ("amh_Ethi", "የሰው፡ልጅ፡ሁሉ፡ሲወለድ፡ነጻ፡ነው።", "የሰው ልጅ ሁሉ ሲወለድ ነጻ ነው"),
]

# (language, raw, normalized): one rule each
RULES = [
    # zero-width and bidi controls, BOM, soft hyphen
    ("eng_Latn", "\ufeffzero\u200bwidth", "zerowidth"),
    ("eng_Latn", "co\u00adop\u00aderation", "cooperation"),
    ("heb_Hebr", "\u202bשלום\u202c \u2067עולם\u2069\u200f", "שלום עולם"),
    ("eng_Latn", "left\u200e to\u200f right\u202a\u202d\u202e", "left to right"),
    ("eng_Latn", "cafe\u200b\u0301", "café"),  # the accent the zero-width space separated composes
    # ZWNJ / ZWJ: kept inside words for Persian and Indic scripts, removed elsewhere
    ("pes_Arab", "می\u200cخواهم", "می\u200cخواهم"),
    ("prs_Arab", "می\u200cخواهم", "می\u200cخواهم"),
    ("arb_Arab", "می\u200cخواهم", "میخواهم"),
    ("pes_Arab", "\u200cمی\u200c خواهم\u200c", "می خواهم"),  # not between two letters
    ("hin_Deva", "क्\u200dष क्\u200cष", "क्\u200dष क्\u200cष"),
    ("sin_Sinh", "මනුෂ්\u200dයයෝ", "මනුෂ්\u200dයයෝ"),
    ("eng_Latn", "a\u200cb\u200dc", "abc"),
    # brackets containing digits go with their content, other brackets lose only the brackets
    ("eng_Latn", "hello [1] world (2) ok (see)", "hello world ok see"),
    ("eng_Latn", "at (12:30) we met {3} [laughter] people", "at we met laughter people"),
    ("eng_Latn", "nested (see [1]) and (a [b] 2) done", "nested see and done"),
    ("eng_Latn", "fullwidth（１）brackets", "fullwidth brackets"),
    ("cmn_Hans", "你好[1]世界", "你好世界"),
    # digit-only words go, words mixing digits and letters stay
    ("eng_Latn", "covid19 mp3 1990 3.14 1st 2-3 ٣٤ ४२", "covid19 mp3 1st"),
    ("eng_Latn", "born in ²⁰²⁴ or ①", "born in or"),
    ("amh_Ethi", "በ፲፱ ዓመቱ", "በ፲፱ ዓመቱ"),
    ("amh_Ethi", "፲፱ ዓመቱ", "ዓመቱ"),
    ("cmn_Hans", "我在2023年去了北京", "我在年去了北京"),
    ("cmn_Hans", "我买了iPhone15，很好用", "我买了iphone15很好用"),
    ("eng_Latn", "123 !!! [4] ...", ""),
    # Turkic dotted / dotless i; elsewhere İ is just i
    ("tur_Latn", "İstanbul", "istanbul"),
    ("tur_Latn", "IRMAK IŞIK ılık İzmir", "ırmak ışık ılık izmir"),
    ("aze_Latn", "İlham IĞDIR", "ilham ığdır"),
    ("azj_Latn", "İlham IĞDIR", "ilham ığdır"),
    ("eng_Latn", "İstanbul IS BIG", "istanbul is big"),
    # apostrophes: kept (as ') between two letters only
    (
        "eng_Latn",
        "rock 'n' roll, the students' books, ‘quoted’ and don’t",
        "rock n roll the students books quoted and don't",
    ),
    ("fra_Latn", "l´homme d’aujourd‘hui", "l'homme d'aujourd'hui"),
    ("ukr_Cyrl", "мʼята м’ята м'ята м`ята", "м'ята м'ята м'ята м'ята"),
    ("haw_Latn", "Hawaiʻi ʻaʻole", "hawaiʻi ʻaʻole"),  # ʻokina is a letter
    ("cat_Latn", "La col·lecció, l'home · punt.", "la col·lecció l'home punt"),
    # punctuation and symbols are word breaks, except next to scripts written without spaces
    ("cmn_Hans", "你好，世界！我用iPhone，很好。", "你好世界我用iphone很好"),
    ("jpn_Jpan", "ジョン・スミスさん、こんにちは。「東京」へ", "ジョンスミスさんこんにちは東京へ"),
    ("cmn_Hant", "北京 上海，廣州", "北京 上海廣州"),  # spaces the source wrote are kept
    ("eng_Latn", "great 😀👍🏽 job — 100% #1 $5 a+b=c", "great job a b c"),
    ("eng_Latn", "Brand™ café", "brand café"),
    ("tha_Thai", "น้ำ ก.พ. สวัสดี!", "น้ำ กพ สวัสดี"),
    ("bod_Tibt", "བོད་ཡིག། བཀྲ་ཤིས།", "བོད་ཡིག བཀྲ་ཤིས"),  # tsheg kept, shad goes
    ("hye_Armn", "Ինչո՞ւ ես այդպես արե՛լ", "ինչու ես այդպես արել"),
    # NFKC
    ("eng_Latn", "ＡＢＣ ﬁne ㎏", "abc fine kg"),
    ("jpn_Jpan", "ｶﾀｶﾅ", "カタカナ"),
    ("arb_Arab", "ﻻ ﺍﻟﻠﻪ", "لا الله"),
    # lowercase and its special cases
    ("ell_Grek", "ΟΔΟΣ ΣΟΦΙΑΣ λόγοσ σ", "οδος σοφιας λόγος σ"),
    ("deu_Latn", "GROẞ Straße", "groß straße"),
    ("chr_Cher", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "ꮳꮃꭹ ꭶꮼꮒꭿꮝꮧ"),
    ("kat_Geor", "ᲡᲐᲥᲐᲠᲗᲕᲔᲚᲝ", "საქართველო"),
    ("cmn_Hans", "我喜欢NBA", "我喜欢nba"),
    # language overrides
    ("arb_Arab", "جميـــل", "جميل"),
    ("pes_Arab", "كتاب علي", "کتاب علی"),
    ("urd_Arab", "كتاب", "کتاب"),
]


@pytest.mark.parametrize(("language", "raw", "expected"), REAL,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(REAL)])
def test_real_sentences(language, raw, expected):
    assert normalize_text(raw, language) == expected


@pytest.mark.parametrize(("language", "raw", "expected"), RULES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(RULES)])
def test_rules(language, raw, expected):
    assert normalize_text(raw, language) == expected


def test_at_least_twelve_scripts():
    assert len({lang.split("_")[1] for lang, _, _ in REAL}) >= 12


def test_thai_sara_am_survives_nfkc():
    # NFKC splits U+0E33 into NIKHAHIT + SARA AA; the normalized text keeps the single character
    assert normalize_text("น้ำ", "tha_Thai") == "น\u0e49\u0e33"
    assert normalize_text("น\u0e49\u0e4d\u0e32", "tha_Thai") == "น\u0e49\u0e33"
    assert normalize_text("ລຳ", "lao_Laoo") == "ລ\u0eb3"


def test_unknown_or_malformed_language_gets_generic_rules():
    assert normalize_text("Hello, World (1)!", "und") == "hello world"
    assert normalize_text("Hello, World (1)!", "") == "hello world"
    assert normalize_text("IŞIK", "xxx_Zzzz") == "işik"


def test_overrides_are_documented_by_language_type():
    for key in ("tur_Latn", "aze_Latn", "azj_Latn", "arb_Arab", "pes_Arab", "urd_Arab"):
        assert key in LANGUAGE_OVERRIDES
    for key, fn in LANGUAGE_OVERRIDES.items():
        iso, script = key.split("_")
        assert len(iso) == 3 and len(script) == 4 and script[0].isupper()
        assert fn.__doc__


ALL_EXAMPLES = [(lang, raw) for lang, raw, _ in REAL + RULES]


def test_idempotent_on_every_example():
    for language, raw in ALL_EXAMPLES:
        once = normalize_text(raw, language)
        assert normalize_text(once, language) == once, (language, raw)


def test_idempotent_on_random_mixtures():
    """Property-style: random strings made of the awkward characters (apostrophes next to deleted
    punctuation, marks after removed symbols, joiners, Thai AM halves, brackets, numerals, cased
    letters...) and pieces of the real sentences, in every language whose rules differ."""
    rng = random.Random(20240101)
    awkward = list(
        "aZİIıΣσς'’‘`´ʼ׳·()[]{} 12٣፲²①.,!?-_\u0301\u0308\u064e\u093f\u094d\u200c\u200d\u200b\u202e"
        "\u00ad\ufeff\x00\t\nكيىـکی漢字年かナー・。、ทำ\u0e33\u0e4d\u0e32ລຳ་།።՞Ա™ﬁＡ１\ufe0f😀\u20e3Ს"
    )
    pieces = awkward + [w for _, raw in ALL_EXAMPLES for w in raw.split()]
    languages = ["eng_Latn", "tur_Latn", "pes_Arab", "arb_Arab", "hin_Deva", "sin_Sinh", "ell_Grek",
                 "cmn_Hans", "jpn_Jpan", "hye_Armn", "bod_Tibt", "tha_Thai", "und"]
    for _ in range(20000):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        language = rng.choice(languages)
        once = normalize_text(raw, language)
        assert normalize_text(once, language) == once, (language, raw, once)
