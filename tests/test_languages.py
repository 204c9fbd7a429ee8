"""manifests.languages on real codes: the codes public corpora write, each with the exact language type
(`{ISO 639-3}_{ISO 15924}`) it must map to.

Sources of the code lists: ISO 639-1/639-2/B as published by the Library of Congress, the FLEURS
language list (google/fleurs), Common Voice locales, BCP-47 tags as CLDR writes them. Decisions the
tables document (see the comments next to the rows):
  - macrolanguages map to the individual language speech corpora mean (ar -> arb, zh -> cmn, fa -> pes,
    et -> ekk, ...), or to the member the script / region names (az-Arab, az-IR -> azb; fa-AF -> prs;
    ku-Arab -> ckb; uz-Arab, uz-AF -> uzs); macrolanguages with no such entry stay (grn, aka, srd, iku);
  - Common Voice `zh-HK` is Cantonese (yue_Hant), `rm-sursilv` / `rm-vallader` are Romansh (roh),
    `nan-tw` is Taiwanese Hokkien in Han characters, `sat` is Santali in Ol Chiki (its official script,
    and the one Common Voice's sentences use), `tok` (Toki Pona) is ISO 639-3 since 2022 and `cnh`
    (Hakha Chin) is ISO 639-3: both are accepted;
  - FLEURS `sd_in` is Sindhi speakers in India reading the FLORES-200 sentences, which are snd_Arab: it
    maps to snd_Arab (CLDR would say sd-IN is Devanagari; the default table wins, no region entry);
  - collective codes (ISO 639-5 / 639-2: sit, afa, ber, sgn, bh), the local-use range qaa-qtz, the
    special codes und / mul / mis / zxx and the special scripts (Zyyy, Zzzz, Qaaa...) are rejected.
"""

from __future__ import annotations

import csv
import time
from importlib import resources

import pycountry
import pytest

from omnicorpus.manifests import languages
from omnicorpus.manifests.languages import (
    DEPRECATED,
    MACRO_BY_REGION,
    MACRO_BY_SCRIPT,
    MACRO_DEFAULT,
    REGION_SCRIPT,
    SOURCE_SPECIFIC,
    UNDETERMINED,
    UnknownLanguageError,
    is_language,
    language_name,
    split_language,
    to_language,
)

# --------------------------------------------------------------------------------------------------
# The mapping tables: code as the source writes it -> our language type.

ISO639_1 = [
    ("en", "eng_Latn"), ("fr", "fra_Latn"), ("de", "deu_Latn"), ("es", "spa_Latn"),
    ("zh", "cmn_Hans"),  # macrolanguage -> Mandarin
    ("ar", "arb_Arab"),  # macrolanguage -> Standard Arabic
    ("hi", "hin_Deva"), ("ru", "rus_Cyrl"), ("ja", "jpn_Jpan"), ("ko", "kor_Hang"),
    ("sw", "swh_Latn"), ("fa", "pes_Arab"), ("ur", "urd_Arab"), ("bn", "ben_Beng"), ("ta", "tam_Taml"),
    ("th", "tha_Thai"), ("el", "ell_Grek"), ("he", "heb_Hebr"), ("ka", "kat_Geor"), ("hy", "hye_Armn"),
    ("am", "amh_Ethi"), ("pt", "por_Latn"), ("it", "ita_Latn"), ("nl", "nld_Latn"), ("pl", "pol_Latn"),
    ("tr", "tur_Latn"), ("vi", "vie_Latn"), ("id", "ind_Latn"), ("uk", "ukr_Cyrl"), ("ro", "ron_Latn"),
    ("ms", "zsm_Latn"), ("ne", "npi_Deva"), ("et", "ekk_Latn"), ("lv", "lvs_Latn"), ("uz", "uzn_Latn"),
    ("mn", "khk_Cyrl"), ("az", "azj_Latn"), ("sq", "als_Latn"), ("om", "gaz_Latn"), ("ps", "pbt_Arab"),
    ("or", "ory_Orya"), ("no", "nob_Latn"), ("nb", "nob_Latn"), ("nn", "nno_Latn"), ("yi", "ydd_Hebr"),
    ("ku", "kmr_Latn"), ("mg", "plt_Latn"), ("qu", "quy_Latn"), ("ay", "ayr_Latn"), ("ff", "fuv_Latn"),
    ("kr", "knc_Latn"), ("kv", "kpv_Cyrl"),
    ("gn", "grn_Latn"), ("ak", "aka_Latn"), ("kg", "kon_Latn"), ("sc", "srd_Latn"),  # macros kept
    ("iu", "iku_Cans"), ("sh", "hbs_Latn"),  # macros kept: no one member is meant
    ("sr", "srp_Cyrl"), ("kk", "kaz_Cyrl"), ("ky", "kir_Cyrl"), ("tg", "tgk_Cyrl"), ("tt", "tat_Cyrl"),
    ("be", "bel_Cyrl"), ("bg", "bul_Cyrl"), ("mk", "mkd_Cyrl"), ("sa", "san_Deva"), ("pa", "pan_Guru"),
    ("gu", "guj_Gujr"), ("kn", "kan_Knda"), ("te", "tel_Telu"), ("ml", "mal_Mlym"), ("si", "sin_Sinh"),
    ("my", "mya_Mymr"), ("km", "khm_Khmr"), ("lo", "lao_Laoo"), ("bo", "bod_Tibt"), ("dv", "div_Thaa"),
    ("ti", "tir_Ethi"), ("so", "som_Latn"), ("yo", "yor_Latn"), ("ig", "ibo_Latn"), ("ha", "hau_Latn"),
    ("zu", "zul_Latn"), ("xh", "xho_Latn"), ("tl", "tgl_Latn"), ("to", "ton_Latn"), ("ty", "tah_Latn"),
    ("se", "sme_Latn"), ("kl", "kal_Latn"), ("ve", "ven_Latn"), ("nr", "nbl_Latn"), ("wa", "wln_Latn"),
    ("li", "lim_Latn"),
]

#: Deprecated codes still written by tools (Java locales: iw/in/ji; Whisper: jw) and ISO 639-3 codes
#: retired after FLORES-200 used them (ajp, merged into apc in 2023).
DEPRECATED_CODES = [
    ("iw", "heb_Hebr"), ("in", "ind_Latn"), ("ji", "ydd_Hebr"), ("jw", "jav_Latn"), ("mo", "ron_Latn"),
    ("scc", "srp_Cyrl"), ("scr", "hrv_Latn"), ("ajp", "apc_Arab"), ("ajp_Arab", "apc_Arab"),
    ("iw-IL", "heb_Hebr"),
]

ISO639_3 = [
    ("eng", "eng_Latn"), ("deu", "deu_Latn"), ("yue", "yue_Hant"), ("cmn", "cmn_Hans"),
    ("arb", "arb_Arab"), ("fra", "fra_Latn"), ("spa", "spa_Latn"), ("rus", "rus_Cyrl"),
    ("jpn", "jpn_Jpan"), ("kor", "kor_Hang"), ("hin", "hin_Deva"), ("ben", "ben_Beng"),
    ("urd", "urd_Arab"), ("tam", "tam_Taml"), ("tel", "tel_Telu"), ("mar", "mar_Deva"),
    ("guj", "guj_Gujr"), ("kan", "kan_Knda"), ("mal", "mal_Mlym"), ("pan", "pan_Guru"),
    ("ory", "ory_Orya"), ("asm", "asm_Beng"), ("npi", "npi_Deva"), ("pes", "pes_Arab"),
    ("prs", "prs_Arab"), ("pbt", "pbt_Arab"), ("ckb", "ckb_Arab"), ("kmr", "kmr_Latn"),
    ("azj", "azj_Latn"), ("azb", "azb_Arab"), ("uzn", "uzn_Latn"), ("kaz", "kaz_Cyrl"),
    ("kir", "kir_Cyrl"), ("tgk", "tgk_Cyrl"), ("khk", "khk_Cyrl"), ("zsm", "zsm_Latn"),
    ("ind", "ind_Latn"), ("jav", "jav_Latn"), ("sun", "sun_Latn"), ("tgl", "tgl_Latn"),
    ("fil", "fil_Latn"), ("ceb", "ceb_Latn"), ("swh", "swh_Latn"), ("amh", "amh_Ethi"),
    ("tir", "tir_Ethi"), ("som", "som_Latn"), ("hau", "hau_Latn"), ("yor", "yor_Latn"),
    ("ibo", "ibo_Latn"), ("zul", "zul_Latn"), ("xho", "xho_Latn"), ("wol", "wol_Latn"),
    ("lug", "lug_Latn"), ("kin", "kin_Latn"), ("nan", "nan_Hant"), ("hak", "hak_Hant"),
    ("wuu", "wuu_Hans"), ("sat", "sat_Olck"), ("mni", "mni_Beng"), ("gom", "gom_Deva"),
    ("tok", "tok_Latn"), ("cnh", "cnh_Latn"), ("apc", "apc_Arab"), ("ary", "ary_Arab"),
    ("arz", "arz_Arab"), ("grc", "grc_Grek"), ("lat", "lat_Latn"),
    # ISO 639-3 macrolanguages: the individual language speech corpora mean, or kept.
    ("ara", "arb_Arab"), ("zho", "cmn_Hans"), ("fas", "pes_Arab"), ("msa", "zsm_Latn"),
    ("swa", "swh_Latn"), ("est", "ekk_Latn"), ("kok", "gom_Deva"), ("nor", "nob_Latn"),
    ("lah", "pnb_Arab"), ("chm", "mhr_Cyrl"), ("tmh", "taq_Latn"), ("din", "dik_Latn"),
    ("grn", "grn_Latn"), ("srd", "srd_Latn"), ("doi", "doi_Deva"), ("zza", "zza_Latn"),
]

#: Our own form passes through; case and separator are repaired; macrolanguages still map.
OUR_FORM = [
    ("eng_Latn", "eng_Latn"), ("cmn_Hant", "cmn_Hant"), ("srp_Latn", "srp_Latn"), ("arb_Arab", "arb_Arab"),
    ("yue_Hans", "yue_Hans"), ("hin_Latn", "hin_Latn"), ("pan_Arab", "pan_Arab"), ("sat_Olck", "sat_Olck"),
    ("sat_Beng", "sat_Beng"),  # FLORES-200's original Santali: the code's script wins over the table
    ("kas_Deva", "kas_Deva"), ("knc_Arab", "knc_Arab"), ("taq_Tfng", "taq_Tfng"), ("ace_Arab", "ace_Arab"),
    ("ENG_latn", "eng_Latn"), ("eng_LATN", "eng_Latn"), ("Eng_Latn", "eng_Latn"), ("CMN_HANT", "cmn_Hant"),
    (" eng_Latn ", "eng_Latn"), ("eng-Latn", "eng_Latn"), ("eng_latn", "eng_Latn"),
    ("zho_Hans", "cmn_Hans"), ("zho_Hant", "cmn_Hant"),  # FLORES-200's zho_* is Mandarin
    ("est_Latn", "ekk_Latn"), ("ara_Arab", "arb_Arab"),
    ("aze_Arab", "azb_Arab"), ("kur_Arab", "ckb_Arab"), ("uzb_Arab", "uzs_Arab"),
]

ISO639_2B = [
    # the 20 bibliographic codes that differ from the terminology ones
    ("ger", "deu_Latn"), ("fre", "fra_Latn"), ("chi", "cmn_Hans"), ("cze", "ces_Latn"), ("dut", "nld_Latn"),
    ("gre", "ell_Grek"), ("per", "pes_Arab"), ("rum", "ron_Latn"), ("slo", "slk_Latn"), ("wel", "cym_Latn"),
    ("alb", "als_Latn"), ("arm", "hye_Armn"), ("baq", "eus_Latn"), ("bur", "mya_Mymr"), ("geo", "kat_Geor"),
    ("ice", "isl_Latn"), ("mac", "mkd_Cyrl"), ("mao", "mri_Latn"), ("may", "zsm_Latn"), ("tib", "bod_Tibt"),
    # ISO 639-2 codes that are the same in /B and /T
    ("eng", "eng_Latn"), ("spa", "spa_Latn"), ("rus", "rus_Cyrl"), ("ita", "ita_Latn"), ("por", "por_Latn"),
    ("pol", "pol_Latn"), ("tur", "tur_Latn"), ("vie", "vie_Latn"), ("ukr", "ukr_Cyrl"), ("hun", "hun_Latn"),
    ("fin", "fin_Latn"), ("swe", "swe_Latn"), ("dan", "dan_Latn"), ("heb", "heb_Hebr"), ("hin", "hin_Deva"),
    ("jpn", "jpn_Jpan"), ("kor", "kor_Hang"), ("tha", "tha_Thai"), ("ara", "arb_Arab"), ("ben", "ben_Beng"),
    ("urd", "urd_Arab"), ("tam", "tam_Taml"), ("amh", "amh_Ethi"), ("som", "som_Latn"), ("yor", "yor_Latn"),
    ("hau", "hau_Latn"), ("swa", "swh_Latn"), ("lit", "lit_Latn"), ("lav", "lvs_Latn"), ("bul", "bul_Cyrl"),
    ("srp", "srp_Cyrl"), ("hrv", "hrv_Latn"), ("slv", "slv_Latn"), ("bos", "bos_Latn"), ("cat", "cat_Latn"),
    ("glg", "glg_Latn"), ("gle", "gle_Latn"), ("uzb", "uzn_Latn"), ("mon", "khk_Cyrl"), ("kur", "kmr_Latn"),
]

#: The whole FLEURS language list (102 configs).
FLEURS = [
    ("af_za", "afr_Latn"), ("am_et", "amh_Ethi"), ("ar_eg", "arb_Arab"),  # read FLORES text: MSA
    ("as_in", "asm_Beng"), ("ast_es", "ast_Latn"), ("az_az", "azj_Latn"), ("be_by", "bel_Cyrl"),
    ("bg_bg", "bul_Cyrl"), ("bn_in", "ben_Beng"), ("bs_ba", "bos_Latn"), ("ca_es", "cat_Latn"),
    ("ceb_ph", "ceb_Latn"), ("ckb_iq", "ckb_Arab"), ("cmn_hans_cn", "cmn_Hans"), ("cs_cz", "ces_Latn"),
    ("cy_gb", "cym_Latn"), ("da_dk", "dan_Latn"), ("de_de", "deu_Latn"), ("el_gr", "ell_Grek"),
    ("en_us", "eng_Latn"), ("es_419", "spa_Latn"), ("et_ee", "ekk_Latn"), ("fa_ir", "pes_Arab"),
    ("ff_sn", "fuv_Latn"),  # FLORES-200's Fula text is fuv (Nigerian Fulfulde), whatever the speakers
    ("fi_fi", "fin_Latn"), ("fil_ph", "fil_Latn"), ("fr_fr", "fra_Latn"), ("ga_ie", "gle_Latn"),
    ("gl_es", "glg_Latn"), ("gu_in", "guj_Gujr"), ("ha_ng", "hau_Latn"), ("he_il", "heb_Hebr"),
    ("hi_in", "hin_Deva"), ("hr_hr", "hrv_Latn"), ("hu_hu", "hun_Latn"), ("hy_am", "hye_Armn"),
    ("id_id", "ind_Latn"), ("ig_ng", "ibo_Latn"), ("is_is", "isl_Latn"), ("it_it", "ita_Latn"),
    ("ja_jp", "jpn_Jpan"), ("jv_id", "jav_Latn"), ("ka_ge", "kat_Geor"), ("kam_ke", "kam_Latn"),
    ("kea_cv", "kea_Latn"), ("kk_kz", "kaz_Cyrl"), ("km_kh", "khm_Khmr"), ("kn_in", "kan_Knda"),
    ("ko_kr", "kor_Hang"), ("ky_kg", "kir_Cyrl"), ("lb_lu", "ltz_Latn"), ("lg_ug", "lug_Latn"),
    ("ln_cd", "lin_Latn"), ("lo_la", "lao_Laoo"), ("lt_lt", "lit_Latn"), ("luo_ke", "luo_Latn"),
    ("lv_lv", "lvs_Latn"), ("mi_nz", "mri_Latn"), ("mk_mk", "mkd_Cyrl"), ("ml_in", "mal_Mlym"),
    ("mn_mn", "khk_Cyrl"), ("mr_in", "mar_Deva"), ("ms_my", "zsm_Latn"), ("mt_mt", "mlt_Latn"),
    ("my_mm", "mya_Mymr"), ("nb_no", "nob_Latn"), ("ne_np", "npi_Deva"), ("nl_nl", "nld_Latn"),
    ("nso_za", "nso_Latn"), ("ny_mw", "nya_Latn"), ("oc_fr", "oci_Latn"), ("om_et", "gaz_Latn"),
    ("or_in", "ory_Orya"), ("pa_in", "pan_Guru"), ("pl_pl", "pol_Latn"), ("ps_af", "pbt_Arab"),
    ("pt_br", "por_Latn"), ("ro_ro", "ron_Latn"), ("ru_ru", "rus_Cyrl"),
    ("sd_in", "snd_Arab"),  # Indian speakers reading FLORES snd_Arab sentences (see module docstring)
    ("sk_sk", "slk_Latn"), ("sl_si", "slv_Latn"), ("sn_zw", "sna_Latn"), ("so_so", "som_Latn"),
    ("sr_rs", "srp_Cyrl"), ("sv_se", "swe_Latn"), ("sw_ke", "swh_Latn"), ("ta_in", "tam_Taml"),
    ("te_in", "tel_Telu"), ("tg_tj", "tgk_Cyrl"), ("th_th", "tha_Thai"), ("tr_tr", "tur_Latn"),
    ("uk_ua", "ukr_Cyrl"), ("umb_ao", "umb_Latn"), ("ur_pk", "urd_Arab"), ("uz_uz", "uzn_Latn"),
    ("vi_vn", "vie_Latn"), ("wo_sn", "wol_Latn"), ("xh_za", "xho_Latn"), ("yo_ng", "yor_Latn"),
    ("yue_hant_hk", "yue_Hant"), ("zu_za", "zul_Latn"),
]

COMMON_VOICE = [
    ("ab", "abk_Cyrl"), ("ar", "arb_Arab"), ("as", "asm_Beng"), ("ast", "ast_Latn"), ("az", "azj_Latn"),
    ("ba", "bak_Cyrl"), ("bas", "bas_Latn"), ("be", "bel_Cyrl"), ("bg", "bul_Cyrl"), ("bn", "ben_Beng"),
    ("br", "bre_Latn"), ("ca", "cat_Latn"), ("ckb", "ckb_Arab"),
    ("cnh", "cnh_Latn"),  # Hakha Chin: an ISO 639-3 code
    ("cs", "ces_Latn"), ("cv", "chv_Cyrl"), ("cy", "cym_Latn"), ("da", "dan_Latn"), ("de", "deu_Latn"),
    ("dv", "div_Thaa"), ("el", "ell_Grek"), ("en", "eng_Latn"), ("eo", "epo_Latn"), ("es", "spa_Latn"),
    ("et", "ekk_Latn"), ("eu", "eus_Latn"), ("fa", "pes_Arab"), ("fi", "fin_Latn"), ("fr", "fra_Latn"),
    ("fy-NL", "fry_Latn"), ("ga-IE", "gle_Latn"), ("gl", "glg_Latn"), ("gn", "grn_Latn"), ("ha", "hau_Latn"),
    ("he", "heb_Hebr"), ("hi", "hin_Deva"), ("hsb", "hsb_Latn"), ("hu", "hun_Latn"), ("hy-AM", "hye_Armn"),
    ("ia", "ina_Latn"), ("id", "ind_Latn"), ("ig", "ibo_Latn"), ("it", "ita_Latn"), ("ja", "jpn_Jpan"),
    ("ka", "kat_Geor"), ("kab", "kab_Latn"), ("kk", "kaz_Cyrl"), ("kmr", "kmr_Latn"), ("ky", "kir_Cyrl"),
    ("lg", "lug_Latn"), ("lt", "lit_Latn"), ("lv", "lvs_Latn"), ("mdf", "mdf_Cyrl"), ("mhr", "mhr_Cyrl"),
    ("mk", "mkd_Cyrl"), ("ml", "mal_Mlym"), ("mn", "khk_Cyrl"), ("mr", "mar_Deva"), ("mt", "mlt_Latn"),
    ("myv", "myv_Cyrl"),
    ("nan-tw", "nan_Hant"),  # Taiwanese Hokkien, sentences in Han characters
    ("ne-NP", "npi_Deva"), ("nl", "nld_Latn"), ("nn-NO", "nno_Latn"), ("or", "ory_Orya"),
    ("pa-IN", "pan_Guru"), ("pl", "pol_Latn"), ("pt", "por_Latn"),
    ("rm-sursilv", "roh_Latn"), ("rm-vallader", "roh_Latn"),  # Romansh idioms: one ISO 639-3 code
    ("ro", "ron_Latn"), ("ru", "rus_Cyrl"), ("rw", "kin_Latn"), ("sah", "sah_Cyrl"),
    ("sat", "sat_Olck"),  # Santali: Ol Chiki, its official script and Common Voice's
    ("sc", "srd_Latn"), ("sk", "slk_Latn"), ("sl", "slv_Latn"), ("sr", "srp_Cyrl"), ("sv-SE", "swe_Latn"),
    ("sw", "swh_Latn"), ("ta", "tam_Taml"), ("th", "tha_Thai"), ("tig", "tig_Ethi"),
    ("tok", "tok_Latn"),  # Toki Pona: ISO 639-3 since 2022 (pycountry has it, type Constructed)
    ("tr", "tur_Latn"), ("tt", "tat_Cyrl"), ("ug", "uig_Arab"), ("uk", "ukr_Cyrl"), ("ur", "urd_Arab"),
    ("uz", "uzn_Latn"), ("vi", "vie_Latn"), ("yue", "yue_Hant"), ("zh-CN", "cmn_Hans"),
    ("zh-HK", "yue_Hant"),  # Common Voice zh-HK is Cantonese, not Mandarin written in Hong Kong
    ("zh-TW", "cmn_Hant"),
    ("vot", "vot_Latn"), ("ady", "ady_Cyrl"), ("an", "arg_Latn"), ("bxr", "bxr_Cyrl"), ("dyu", "dyu_Latn"),
    ("is", "isl_Latn"), ("kln", "kln_Latn"), ("ltg", "ltg_Latn"), ("lo", "lao_Laoo"), ("mrj", "mrj_Cyrl"),
    ("nhi", "nhi_Latn"), ("nso", "nso_Latn"), ("oc", "oci_Latn"), ("os", "oss_Cyrl"), ("ps", "pbt_Arab"),
    ("quc", "quc_Latn"), ("quy", "quy_Latn"), ("sd", "snd_Arab"), ("skr", "skr_Arab"), ("sq", "als_Latn"),
    ("ti", "tir_Ethi"), ("tk", "tuk_Latn"), ("tw", "twi_Latn"), ("ty", "tah_Latn"), ("yi", "ydd_Hebr"),
    ("yo", "yor_Latn"), ("zgh", "zgh_Tfng"), ("zu", "zul_Latn"), ("zza", "zza_Latn"), ("am", "amh_Ethi"),
    ("ko", "kor_Hang"), ("ht", "hat_Latn"), ("lij", "lij_Latn"), ("hyw", "hyw_Armn"), ("kbd", "kbd_Cyrl"),
    ("kpv", "kpv_Cyrl"), ("pap-AW", "pap_Latn"), ("ses", "ses_Latn"), ("teo", "teo_Latn"),
    ("nyn", "nyn_Latn"), ("cgg", "cgg_Latn"), ("dag", "dag_Latn"), ("ibb", "ibb_Latn"), ("tn", "tsn_Latn"),
    ("ts", "tso_Latn"), ("xh", "xho_Latn"), ("ve", "ven_Latn"), ("st", "sot_Latn"), ("vec", "vec_Latn"),
]

BCP47 = [
    ("zh-Hans-CN", "cmn_Hans"), ("zh-Hant-TW", "cmn_Hant"), ("zh-Hant-HK", "cmn_Hant"),
    ("zh-Hani", "cmn_Hani"), ("zh-SG", "cmn_Hans"), ("zh-MO", "cmn_Hant"),
    ("zh-cmn-Hans-CN", "cmn_Hans"),  # extlang form
    ("zh-yue", "yue_Hant"), ("yue-Hant-HK", "yue_Hant"), ("yue-Hans-CN", "yue_Hans"),
    ("sr-Latn-RS", "srp_Latn"), ("sr-Cyrl-RS", "srp_Cyrl"), ("sr-ME", "srp_Latn"), ("sr-BA", "srp_Cyrl"),
    ("uz-Cyrl-UZ", "uzn_Cyrl"), ("uz-Latn", "uzn_Latn"),
    ("uz-Arab", "uzs_Arab"), ("uz-AF", "uzs_Arab"),  # Southern Uzbek of Afghanistan
    ("pa-Arab-PK", "pan_Arab"), ("pa-Guru-IN", "pan_Guru"), ("pa-PK", "pan_Arab"),
    ("az-Arab-IR", "azb_Arab"), ("az-IR", "azb_Arab"), ("az-Latn-AZ", "azj_Latn"), ("az-Cyrl", "azj_Cyrl"),
    ("ku-Arab", "ckb_Arab"),  # Arabic-script Kurdish is Sorani
    ("ku-Latn-TR", "kmr_Latn"),
    ("mn-Mong", "khk_Mong"), ("mn-CN", "khk_Mong"), ("mn-Cyrl-MN", "khk_Cyrl"),
    ("kk-CN", "kaz_Arab"), ("ky-CN", "kir_Arab"),
    ("fa-AF", "prs_Arab"), ("fa-IR", "pes_Arab"), ("sw-CD", "swc_Latn"), ("sw-TZ", "swh_Latn"),
    ("en-GB", "eng_Latn"), ("en-US", "eng_Latn"), ("en-Dsrt", "eng_Dsrt"), ("pt-BR", "por_Latn"),
    ("pt-PT", "por_Latn"), ("es-419", "spa_Latn"), ("es-MX", "spa_Latn"), ("fr-CA", "fra_Latn"),
    ("de-CH-1996", "deu_Latn"),  # variant
    ("en-US-x-twain", "eng_Latn"),  # private use
    ("de-DE-u-co-phonebk", "deu_Latn"),  # extension
    ("ca-ES-valencia", "cat_Latn"), ("sl-rozaj", "slv_Latn"), ("el-polyton", "ell_Grek"),
    ("ru-RU-petr1708", "rus_Cyrl"), ("en-Latn-US-x-foo-bar", "eng_Latn"),
    ("ar-EG", "arb_Arab"), ("ar-SA", "arb_Arab"), ("ja-JP", "jpn_Jpan"), ("ja-Jpan-JP", "jpn_Jpan"),
    ("ko-KR", "kor_Hang"), ("ko-Kore-KR", "kor_Kore"), ("hi-Latn", "hin_Latn"), ("sd-Deva-IN", "snd_Deva"),
    ("sd-Arab-PK", "snd_Arab"), ("ks-Deva", "kas_Deva"), ("ms-Arab", "zsm_Arab"), ("bs-Cyrl", "bos_Cyrl"),
    ("ha-Arab-NG", "hau_Arab"), ("no-NO", "nob_Latn"), ("nb-NO", "nob_Latn"), ("chr-Cher-US", "chr_Cher"),
    ("vai-Vaii-LR", "vai_Vaii"), ("iu-Cans-CA", "iku_Cans"), ("tzm-Tfng-MA", "tzm_Tfng"),
    ("shi-Tfng-MA", "shi_Tfng"), ("zgh-Tfng-MA", "zgh_Tfng"),
]

ALL_TABLES = {
    "iso639_1": ISO639_1, "deprecated": DEPRECATED_CODES, "iso639_3": ISO639_3, "our_form": OUR_FORM,
    "iso639_2b": ISO639_2B, "fleurs": FLEURS, "common_voice": COMMON_VOICE, "bcp47": BCP47,
}
ALL_CODES = [pair for table in ALL_TABLES.values() for pair in table]


def test_table_sizes() -> None:
    for kind in ("iso639_1", "iso639_3", "iso639_2b", "fleurs", "common_voice", "bcp47"):
        assert len(ALL_TABLES[kind]) >= 40, kind
        codes = [code for code, _ in ALL_TABLES[kind]]
        assert len(codes) == len(set(codes)), f"duplicate row in {kind}"
    assert len(FLEURS) == 102


@pytest.mark.parametrize(("code", "expected"), ISO639_1)
def test_iso639_1(code: str, expected: str) -> None:
    assert to_language(code, source="iso639-1") == expected


@pytest.mark.parametrize(("code", "expected"), DEPRECATED_CODES)
def test_deprecated(code: str, expected: str) -> None:
    assert to_language(code, source="whisper") == expected


@pytest.mark.parametrize(("code", "expected"), ISO639_3)
def test_iso639_3(code: str, expected: str) -> None:
    assert to_language(code, source="iso639-3") == expected


@pytest.mark.parametrize(("code", "expected"), OUR_FORM)
def test_our_form(code: str, expected: str) -> None:
    assert to_language(code) == expected


@pytest.mark.parametrize(("code", "expected"), ISO639_2B)
def test_iso639_2b(code: str, expected: str) -> None:
    assert to_language(code, source="marc") == expected


@pytest.mark.parametrize(("code", "expected"), FLEURS)
def test_fleurs(code: str, expected: str) -> None:
    assert to_language(code, source="fleurs") == expected


@pytest.mark.parametrize(("code", "expected"), COMMON_VOICE)
def test_common_voice(code: str, expected: str) -> None:
    assert to_language(code, source="common_voice") == expected


@pytest.mark.parametrize(("code", "expected"), BCP47)
def test_bcp47(code: str, expected: str) -> None:
    assert to_language(code, source="bcp47") == expected


@pytest.mark.parametrize(("code", "expected"), ALL_CODES)
def test_results_are_valid_and_stable(code: str, expected: str) -> None:
    """Every result is a valid code in our form and maps onto itself; case never matters."""
    assert is_language(expected)
    assert to_language(expected) == expected
    assert to_language(code.upper()) == to_language(code.lower()) == expected


# --------------------------------------------------------------------------------------------------
# Script from the transcript.

#: Talysh: ISO 639-3, written in Latin (Azerbaijan), Cyrillic (Soviet era) and Perso-Arabic (Iran).
NO_DEFAULT = "tly"


def test_no_default_language_is_not_in_table() -> None:
    assert pycountry.languages.get(alpha_3=NO_DEFAULT) is not None
    assert NO_DEFAULT not in _tsv_rows()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Azərbaycan Respublikasında yaşayır", "tly_Latn"),
        ("Ин мардым Азәрбајҹанда зиндəгe кардеј", "tly_Cyrl"),
        ("ای مردم تالشی زبون ایسه", "tly_Arab"),
    ],
)
def test_script_from_transcript(text: str, expected: str) -> None:
    assert to_language(NO_DEFAULT, source="corpus", text=text) == expected
    assert to_language(f"{NO_DEFAULT}-AZ", source="corpus", text=text) == expected


def test_han_transcript_of_unlisted_chinese_language() -> None:
    assert "cjy" not in _tsv_rows()  # Jin Chinese
    assert to_language("cjy", text="我们说晋语") == "cjy_Hans"
    assert to_language("cjy", text="我們說晉語") == "cjy_Hant"


def test_code_and_table_win_over_transcript() -> None:
    assert to_language("eng", text="Привет, мир") == "eng_Latn"
    assert to_language("tly_Cyrl", text="Azərbaycan") == "tly_Cyrl"


def test_no_script_without_transcript_raises_helpfully() -> None:
    with pytest.raises(UnknownLanguageError) as err:
        to_language(NO_DEFAULT, source="my_corpus")
    msg = str(err.value)
    assert "'tly'" in msg and "my_corpus" in msg
    assert "no default script" in msg and "no transcript" in msg and "tly_Latn" in msg


@pytest.mark.parametrize("text", ["", "123 456", "?!. —", "   "])
def test_transcript_without_letters_raises(text: str) -> None:
    with pytest.raises(UnknownLanguageError, match="no default script"):
        to_language(NO_DEFAULT, source="my_corpus", text=text)


# --------------------------------------------------------------------------------------------------
# Bad codes.

BAD = [
    ("xx-XX", "not an ISO 639"),
    ("klingon", "not an ISO 639"),
    ("qqq", "local-use"),  # qaa-qtz: reserved for local use, in no table
    ("qaa", "local-use"),
    ("qaa_Latn", "local-use"),
    ("en_Xyzw", "not an ISO 15924 script"),
    ("eng_Zzzz", "special ISO 15924"),
    ("eng_Zyyy", "special ISO 15924"),
    ("eng_Qaaa", "special ISO 15924"),
    ("xxx_Zzzz", "not an ISO 639"),
    ("123", "not an ISO 639"),
    ("", "empty code"),
    (" ", "empty code"),
    ("e", "not an ISO 639"),
    ("engl", "not an ISO 639"),
    ("zz_zz", "not an ISO 639"),
    ("en--us", "cannot read subtag ''"),
    ("en-us-", "cannot read subtag ''"),
    ("-en", "not an ISO 639"),
    ("en_us_extra_junk", "cannot read subtag 'junk'"),
    ("en-US-GB", "cannot read subtag 'gb'"),  # two regions
    ("en-Latn-Cyrl", "cannot read subtag 'cyrl'"),  # two scripts
    ("en_US_Latn", "cannot read subtag 'latn'"),  # script after region
    ("en-cmn", "extended language subtag"),  # extlang under a language that is no macrolanguage
    ("zh-qqq", "extended language subtag"),  # (membership of the macrolanguage is not checked)
    ("en-a", "nothing after it"),  # extension singleton without subtags
    ("en-x", "nothing after it"),
    ("en-u-x-foo", "nothing after it"),
    ("en_12", "cannot read subtag '12'"),
    ("eng latn", "not an ISO 639"),
    ("ｅｎ", "not an ISO 639"),  # fullwidth letters
    ("en-ÜS", "cannot read subtag"),
    ("x-klingon", "not an ISO 639"),
    ("i-klingon", "not an ISO 639"),  # irregular grandfathered tag
    ("und", "special ISO 639 code"),
    ("UND", "special ISO 639 code"),
    ("und_Latn", "special ISO 639 code"),
    ("mul", "special ISO 639 code"),
    ("mis", "special ISO 639 code"),
    ("zxx", "special ISO 639 code"),
    # collective codes: a family, not a language (ISO 639-5, from ISO 639-2)
    ("sit", "collective code"), ("afa", "collective code"), ("ber", "collective code"),
    ("nah", "collective code"), ("sgn", "collective code"), ("sgn-ase", "collective code"),
    ("bh", "collective code"),  # ISO 639-1 Bihari: use bho / mai / mag
    ("art", "collective code"), ("cpe", "collective code"), ("inc", "collective code"),
]


@pytest.mark.parametrize(("code", "why"), BAD)
def test_bad_codes(code: str, why: str) -> None:
    source = "source_under_test"
    with pytest.raises(UnknownLanguageError) as err:
        to_language(code, source=source)
    msg = str(err.value)
    assert repr(code) in msg and f"(source: {source})" in msg
    assert why in msg
    assert err.value.code == code and err.value.source == source
    assert isinstance(err.value, ValueError)


def test_collective_message_names_family() -> None:
    with pytest.raises(UnknownLanguageError, match="Sino-Tibetan languages.*one language"):
        to_language("sit", source="x")


def test_error_without_source() -> None:
    with pytest.raises(UnknownLanguageError) as err:
        to_language("klingon")
    assert "(source:" not in str(err.value)


@pytest.mark.parametrize("code", [None, 12, b"en", ("en",)])
def test_not_a_string(code: object) -> None:
    with pytest.raises(UnknownLanguageError, match="a language code is a string"):
        to_language(code, source="s")  # type: ignore[arg-type]


def test_undetermined_constant() -> None:
    assert UNDETERMINED == "und"
    assert pycountry.languages.get(alpha_3=UNDETERMINED).name == "Undetermined"


# --------------------------------------------------------------------------------------------------
# The tables in the module and in default_scripts.tsv.


def _tsv_rows() -> dict[str, str]:
    text = resources.files("omnicorpus.manifests").joinpath("data/default_scripts.tsv").read_text("utf-8")
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines[0] == "iso639_3\tscript"
    rows = list(csv.reader(lines[1:], delimiter="\t"))
    assert all(len(r) == 2 for r in rows)
    codes = [r[0] for r in rows]
    assert len(codes) == len(set(codes)), "duplicate language in default_scripts.tsv"
    assert codes == sorted(codes), "default_scripts.tsv is kept sorted"
    return dict(rows)


def _individual(code: str) -> bool:
    entry = pycountry.languages.get(alpha_3=code)
    return entry is not None and entry.scope == "I"


def _macro(code: str) -> bool:
    entry = pycountry.languages.get(alpha_3=code)
    return entry is not None and entry.scope == "M"


def test_default_scripts_tsv() -> None:
    rows = _tsv_rows()
    assert len(rows) > 300
    for lang, script in rows.items():
        assert is_language(f"{lang}_{script}"), (lang, script)
        assert _individual(lang) or _macro(lang), lang
        assert pycountry.scripts.get(alpha_4=script) is not None, script
        assert lang not in MACRO_DEFAULT, f"{lang} is mapped to {MACRO_DEFAULT.get(lang)}: row unreachable"
        assert to_language(lang) == f"{lang}_{script}"


def test_macro_default() -> None:
    rows = _tsv_rows()
    for macro, member in MACRO_DEFAULT.items():
        assert _macro(macro), f"{macro} is not an ISO 639-3 macrolanguage"
        assert _individual(member), f"{member} is not an individual language"
        assert member in rows, f"{member} has no default script"
        assert is_language(f"{member}_{rows[member]}")


def test_macro_by_script_and_region() -> None:
    rows = _tsv_rows()
    for (macro, script), member in MACRO_BY_SCRIPT.items():
        assert _macro(macro) and _individual(member) and member in rows
        assert is_language(f"{member}_{script}")
    for (macro, region), member in MACRO_BY_REGION.items():
        assert _macro(macro) and _individual(member) and member in rows
        assert pycountry.countries.get(alpha_2=region.upper()) is not None


def test_source_specific() -> None:
    for key, value in SOURCE_SPECIFIC.items():
        assert key == key.lower() and "_" not in key
        assert is_language(value), value
        assert to_language(key) == to_language(key.replace("-", "_").upper()) == value


def test_region_script() -> None:
    rows = _tsv_rows()
    for (lang, region), script in REGION_SCRIPT.items():
        assert _individual(lang) and lang in rows, lang
        assert pycountry.countries.get(alpha_2=region.upper()) is not None, region
        assert is_language(f"{lang}_{script}")
        # an entry that only repeats the default is dead weight (cmn's Hans ones are kept for clarity)
        assert rows[lang] != script or lang == "cmn", (lang, region)


def test_deprecated_table() -> None:
    for old, new in DEPRECATED.items():
        assert pycountry.languages.get(alpha_3=old) is None and pycountry.languages.get(alpha_2=old) is None
        assert pycountry.languages.get(alpha_3=new) is not None


def test_is_language() -> None:
    assert is_language("eng_Latn") and is_language("cmn_Hans") and is_language("sat_Olck")
    assert is_language("zho_Hant")  # a valid code (to_language would map it to cmn_Hant)
    for bad in ["eng-Latn", "ENG_Latn", "eng_latn", "eng_LATN", "en_Latn", "xxx_Latn", "eng_Xyzw",
                "eng_Zzzz", "eng_Zyyy", "und_Latn", "mul_Latn", "qaa_Latn", "eng_Latn ", "eng", "",
                "eng_Latn_US", "sit_Latn"]:
        assert not is_language(bad), bad
    for bad_type in [None, 1, b"eng_Latn"]:
        assert not is_language(bad_type)  # type: ignore[arg-type]


def test_split_language() -> None:
    assert split_language("eng_Latn") == ("eng", "Latn")
    assert split_language("cmn_Hant") == ("cmn", "Hant")
    assert split_language("eng") == ("eng", "")


def test_language_name() -> None:
    assert language_name("eng_Latn") == "English (Latin)"
    assert language_name("cmn_Hans") == "Mandarin Chinese (Han (Simplified variant))"
    assert language_name("yue_Hant") == "Yue Chinese (Han (Traditional variant))"
    assert language_name("arb_Arab") == "Standard Arabic (Arabic)"
    assert language_name("xxx_Xyzw") == "xxx (Xyzw)"  # unknown parts fall back to the codes


# --------------------------------------------------------------------------------------------------
# Speed: to_language is cached. Measured and printed (run with -s), not asserted.


def test_speed_is_reported() -> None:
    codes = [code for code, _ in ALL_CODES][:200]
    assert len(codes) == 200
    languages._parse.cache_clear()
    start = time.perf_counter()
    for _ in range(500):
        for code in codes:
            to_language(code, source="bench")
    elapsed = time.perf_counter() - start
    print(f"\nto_language: 100,000 calls on 200 codes in {elapsed:.3f} s ({elapsed * 10:.2f} us/call)")


# --------------------------------------------------------------------------------------------------
# English language names, as Kaldi utt2lang / lang files and Lhotse supervisions write them. Each maps
# exactly as the code it names (the second column) does.

NAMES = [
    ("English", "en"), ("english", "en"), ("ENGLISH", "en"), (" English ", "en"),
    ("Swahili", "sw"),  # ISO 639-3 "Swahili (macrolanguage)", as sw: swh_Latn
    ("Swahili (individual language)", "swh"), ("Kiswahili", "sw"),
    ("Mandarin Chinese", "cmn"), ("mandarin", "cmn"), ("Mandarin_Chinese", "cmn"), ("Chinese", "zh"),
    ("Cantonese", "yue"), ("Yue Chinese", "yue"),
    ("Hindi", "hi"), ("hindi", "hi"), ("Bengali", "bn"), ("Bangla", "bn"), ("Tamil", "ta"), ("Urdu", "ur"),
    ("Arabic", "ar"), ("Standard Arabic", "arb"), ("Egyptian Arabic", "arz"),
    ("Persian", "fa"), ("Farsi", "fa"), ("Dari", "prs"), ("Pashto", "ps"), ("Pushto", "ps"),
    ("Malay", "ms"), ("Nepali", "ne"), ("Greek", "el"), ("Modern Greek (1453-)", "el"),
    ("Spanish", "es"), ("Castilian", "es"), ("French", "fr"), ("German", "de"), ("Swiss German", "gsw"),
    ("Dutch", "nl"), ("Flemish", "nl"), ("Portuguese", "pt"), ("Russian", "ru"), ("Ukrainian", "uk"),
    ("Japanese", "ja"), ("Korean", "ko"), ("Vietnamese", "vi"), ("Thai", "th"), ("Lao", "lo"),
    ("Khmer", "km"), ("Burmese", "my"), ("Tagalog", "tl"), ("Filipino", "fil"), ("Cebuano", "ceb"),
    ("Indonesian", "id"), ("Javanese", "jv"), ("Turkish", "tr"), ("Kazakh", "kk"), ("Kyrgyz", "ky"),
    ("Uyghur", "ug"), ("Uzbek", "uz"), ("Mongolian", "mn"), ("Georgian", "ka"), ("Armenian", "hy"),
    ("Punjabi", "pa"), ("Panjabi", "pa"), ("Odia", "or"), ("Sinhala", "si"), ("Sinhalese", "si"),
    ("Kurdish", "ku"), ("Kurmanji", "kmr"), ("Sorani", "ckb"), ("Central Kurdish", "ckb"),
    ("Haitian Creole", "ht"), ("Haitian", "ht"), ("Zulu", "zu"), ("isiZulu", "zu"), ("Xhosa", "xh"),
    ("Amharic", "am"), ("Somali", "so"), ("Yoruba", "yo"), ("Igbo", "ig"), ("Hausa", "ha"),
    ("Kinyarwanda", "rw"), ("Luganda", "lg"), ("Ganda", "lg"), ("Dholuo", "luo"), ("Chichewa", "ny"),
    ("Fula", "ff"), ("Guarani", "gn"), ("Tok Pisin", "tpi"), ("Norwegian", "no"), ("Norwegian Bokmål", "nb"),
    ("Esperanto", "eo"), ("Latin", "la"), ("Wu", "wuu"), ("Konkani", "kok"), ("Oromo", "om"),
]


@pytest.mark.parametrize(("name", "code"), NAMES)
def test_language_names_map_like_their_codes(name: str, code: str) -> None:
    assert to_language(name, source="kaldi utt2lang") == to_language(code)


@pytest.mark.parametrize(("name", "why"), [
    ("Klingonese", "nor a language name we know"),
    ("Gaelic", "nor a language name we know"),  # Irish or Scottish Gaelic: say which
    ("Ainu", "fits several languages: aib (Ainu (China)), ain (Ainu (Japan))"),
    ("Old English (ca. 450-1100)", "nor a language name we know"),  # historical: no speech corpus
    ("Klingon", "nor a language name we know"),  # constructed, no ISO 639-1 code
    ("English language", "nor a language name we know"),
    ("Ma", "not an ISO 639-1, 639-2 or 639-3 code"),  # short names (ISO 639-3 has two "Ma") are codes only
])
def test_unknown_and_ambiguous_names(name: str, why: str) -> None:
    with pytest.raises(UnknownLanguageError) as err:
        to_language(name, source="lhotse")
    assert why in str(err.value) and "(source: lhotse)" in str(err.value) and repr(name) in str(err.value)


def test_common_names_point_at_codes() -> None:
    for name, code in languages.COMMON_NAMES.items():
        assert name == name.casefold().strip(), name
        assert to_language(code), name  # every entry maps to a language type
