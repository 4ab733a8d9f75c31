"""Product and market rows in each language whose Excel writes a legacy code page.

Real words: product names, seasons, cities and prompts such as "on a marble table in Istanbul",
written the way a marketing team would type them for that market.
"""

from __future__ import annotations

import unicodedata

# (label, code page Excel writes for that market, rows of (market, product, setting)).
CORPUS: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "Polish",
        "cp1250",
        [
            ("pl-PL", "Kubek ceramiczny", "na marmurowym stole w Krakowie"),
            ("pl-PL", "Świeca zapachowa", "jesienny poranek, złote liście za oknem"),
            ("pl-PL", "Dzbanek do herbaty", "w przytulnej kuchni w Gdańsku"),
            ("pl-PL", "Lampa z drewna", "zimowy wieczór w górach, śnieg i kominek"),
            ("pl-PL", "Wazon szklany", "wiosenny ogród w Łodzi, światło słońca"),
            ("pl-PL", "Kosz piknikowy", "letnia łąka nad jeziorem, Mazury"),
        ],
    ),
    (
        "Czech",
        "cp1250",
        [
            ("cs-CZ", "Keramický hrnek", "na mramorovém stole v Praze"),
            ("cs-CZ", "Vonná svíčka", "podzimní ráno, zlaté listí za oknem"),
            ("cs-CZ", "Čajová konvice", "v útulné kuchyni v Brně"),
            ("cs-CZ", "Dřevěná lampa", "zimní večer na horách, sníh a krb"),
            ("cs-CZ", "Skleněná váza", "jarní zahrada v Českém Krumlově"),
            ("cs-CZ", "Piknikový koš", "letní louka u řeky Vltavy"),
        ],
    ),
    (
        "Slovak",
        "cp1250",
        [
            ("sk-SK", "Keramický hrnček", "na mramorovom stole v Bratislave"),
            ("sk-SK", "Vonná sviečka", "jesenné ráno, zlaté lístie za oknom"),
            ("sk-SK", "Čajník", "v útulnej kuchyni v Košiciach"),
            ("sk-SK", "Drevená lampa", "zimný večer v Tatrách, sneh a kozub"),
        ],
    ),
    (
        "Hungarian",
        "cp1250",
        [
            ("hu-HU", "Kerámia bögre", "márványasztalon Budapesten"),
            ("hu-HU", "Illatgyertya", "őszi reggel, arany levelek az ablak előtt"),
            ("hu-HU", "Teáskanna", "hangulatos konyhában Debrecenben"),
            ("hu-HU", "Fa lámpa", "téli este a hegyekben, hó és kandalló"),
            ("hu-HU", "Üvegváza", "tavaszi kert a Balatonnál, napfény"),
        ],
    ),
    (
        "Romanian",
        "cp1250",
        [
            ("ro-RO", "Cană din ceramică", "pe o masă de marmură în Bucureşti"),
            ("ro-RO", "Lumânare parfumată", "dimineaţă de toamnă, frunze aurii la fereastră"),
            ("ro-RO", "Ceainic", "într-o bucătărie primitoare din Cluj"),
            ("ro-RO", "Lampă din lemn", "seară de iarnă la munte, zăpadă şi şemineu"),
        ],
    ),
    (
        "Croatian",
        "cp1250",
        [
            ("hr-HR", "Keramička šalica", "na mramornom stolu u Zagrebu"),
            ("hr-HR", "Mirisna svijeća", "jesensko jutro, zlatno lišće iza prozora"),
            ("hr-HR", "Čajnik", "u ugodnoj kuhinji u Splitu"),
            ("hr-HR", "Drvena svjetiljka", "zimska večer u planinama, snijeg i kamin"),
            ("hr-HR", "Staklena vaza", "proljetni vrt u Dubrovniku, đurđice"),
        ],
    ),
    (
        "Russian",
        "cp1251",
        [
            ("ru-RU", "Керамическая кружка", "на мраморном столе в Москве"),
            ("ru-RU", "Ароматическая свеча", "осеннее утро, золотые листья за окном"),
            ("ru-RU", "Заварочный чайник", "в уютной кухне в Санкт-Петербурге"),
            ("ru-RU", "Деревянная лампа", "зимний вечер в горах, снег и камин"),
            ("ru-RU", "Стеклянная ваза", "весенний сад, мягкий солнечный свет"),
            ("ru-RU", "Корзина для пикника", "летний луг у реки, Подмосковье"),
        ],
    ),
    (
        "Ukrainian",
        "cp1251",
        [
            ("uk-UA", "Керамічна чашка", "на мармуровому столі в Києві"),
            ("uk-UA", "Ароматична свічка", "осінній ранок, золоте листя за вікном"),
            ("uk-UA", "Чайник", "у затишній кухні у Львові"),
            ("uk-UA", "Дерев'яна лампа", "зимовий вечір у Карпатах, сніг і камін"),
            ("uk-UA", "Скляна ваза", "весняний сад в Одесі, м'яке світло"),
        ],
    ),
    (
        "Bulgarian",
        "cp1251",
        [
            ("bg-BG", "Керамична чаша", "на мраморна маса в София"),
            ("bg-BG", "Ароматна свещ", "есенна сутрин, златни листа зад прозореца"),
            ("bg-BG", "Чайник", "в уютна кухня във Варна"),
            ("bg-BG", "Дървена лампа", "зимна вечер в планината, сняг и камина"),
        ],
    ),
    (
        "Serbian",
        "cp1251",
        [
            ("sr-RS", "Керамичка шоља", "на мермерном столу у Београду"),
            ("sr-RS", "Мирисна свећа", "јесење јутро, златно лишће иза прозора"),
            ("sr-RS", "Чајник", "у пријатној кухињи у Новом Саду"),
            ("sr-RS", "Дрвена лампа", "зимско вече у планинама, снег и камин"),
        ],
    ),
    (
        "Greek",
        "cp1253",
        [
            ("el-GR", "Κεραμική κούπα", "σε μαρμάρινο τραπέζι στην Αθήνα"),
            ("el-GR", "Αρωματικό κερί", "φθινοπωρινό πρωινό, χρυσά φύλλα στο παράθυρο"),
            ("el-GR", "Τσαγιέρα", "σε μια ζεστή κουζίνα στη Θεσσαλονίκη"),
            ("el-GR", "Ξύλινη λάμπα", "χειμωνιάτικο βράδυ στα βουνά, χιόνι και τζάκι"),
            ("el-GR", "Γυάλινο βάζο", "ανοιξιάτικος κήπος στη Σαντορίνη, ήλιος"),
        ],
    ),
    (
        "Turkish",
        "cp1254",
        [
            ("tr-TR", "Seramik kupa", "İstanbul'da mermer bir masada"),
            ("tr-TR", "Kokulu mum", "sonbahar sabahı, pencerede altın yapraklar"),
            ("tr-TR", "Çaydanlık", "İzmir'de sıcak bir mutfakta"),
            ("tr-TR", "Ahşap lamba", "dağlarda kış akşamı, kar ve şömine"),
            ("tr-TR", "Cam vazo", "ilkbaharda güneşli bir bahçe, Bursa"),
            ("tr-TR", "Piknik sepeti", "yaz günü Boğaz kıyısında çimenler"),
        ],
    ),
    (
        "Hebrew",
        "cp1255",
        [
            ("he-IL", "ספל קרמיקה", "על שולחן שיש בתל אביב"),
            ("he-IL", "נר ריחני", "בוקר של סתיו, עלים זהובים בחלון"),
            ("he-IL", "קומקום תה", "במטבח חמים בירושלים"),
            ("he-IL", "מנורת עץ", "ערב חורף בהרים, שלג ואח"),
        ],
    ),
    (
        "Arabic",
        "cp1256",
        [
            ("ar-SA", "كوب سيراميك", "على طاولة رخامية في دبي"),
            ("ar-SA", "شمعة معطرة", "صباح خريفي، أوراق ذهبية عند النافذة"),
            ("ar-SA", "إبريق شاي", "في مطبخ دافئ في القاهرة"),
            ("ar-SA", "مصباح خشبي", "مساء شتوي في الجبال، ثلج ومدفأة"),
        ],
    ),
    (
        "Lithuanian",
        "cp1257",
        [
            ("lt-LT", "Keraminis puodelis", "ant marmurinio stalo Vilniuje"),
            ("lt-LT", "Kvapioji žvakė", "rudens rytas, auksiniai lapai už lango"),
            ("lt-LT", "Arbatinukas", "jaukioje virtuvėje Kaune"),
            ("lt-LT", "Medinė lempa", "žiemos vakaras kalnuose, sniegas ir židinys"),
        ],
    ),
    (
        "Latvian",
        "cp1257",
        [
            ("lv-LV", "Keramikas krūze", "uz marmora galda Rīgā"),
            ("lv-LV", "Aromātiskā svece", "rudens rīts, zelta lapas aiz loga"),
            ("lv-LV", "Tējkanna", "mājīgā virtuvē Jūrmalā"),
            ("lv-LV", "Koka lampa", "ziemas vakars kalnos, sniegs un kamīns"),
        ],
    ),
    (
        "Estonian",
        "cp1257",
        [
            ("et-EE", "Keraamiline kruus", "marmorlaual Tallinnas"),
            ("et-EE", "Lõhnaküünal", "sügisene hommik, kuldsed lehed akna taga"),
            ("et-EE", "Teekann", "hubases köögis Tartus"),
            ("et-EE", "Puidust lamp", "talveõhtu mägedes, lumi ja kamin"),
        ],
    ),
    (
        "Vietnamese",
        "cp1258",
        [
            ("vi-VN", "Cốc gốm", "trên bàn đá cẩm thạch ở Hà Nội"),
            ("vi-VN", "Nến thơm", "buổi sáng mùa thu, lá vàng bên cửa sổ"),
            ("vi-VN", "Ấm trà", "trong căn bếp ấm áp ở Thành phố Hồ Chí Minh"),
            ("vi-VN", "Đèn gỗ", "buổi tối mùa đông trên núi, tuyết và lò sưởi"),
            ("vi-VN", "Bình hoa thủy tinh", "khu vườn mùa xuân ở Đà Lạt, nắng nhẹ"),
        ],
    ),
    (
        "Thai",
        "cp874",
        [
            ("th-TH", "แก้วเซรามิก", "บนโต๊ะหินอ่อนในกรุงเทพ"),
            ("th-TH", "เทียนหอม", "เช้าฤดูใบไม้ร่วง ใบไม้สีทองริมหน้าต่าง"),
            ("th-TH", "กาน้ำชา", "ในครัวที่อบอุ่นในเชียงใหม่"),
            ("th-TH", "โคมไฟไม้", "ค่ำคืนฤดูหนาวบนภูเขา"),
        ],
    ),
    (
        "French",
        "cp1252",
        [
            ("fr-FR", "Tasse en céramique", "sur une table en marbre à Paris"),
            ("fr-FR", "Bougie parfumée", "un matin d'automne, feuilles dorées à la fenêtre"),
            ("fr-FR", "Théière", "dans une cuisine chaleureuse à Lyon"),
            ("fr-FR", "Lampe en bois", "soirée d'hiver à la montagne, neige et cheminée"),
            ("fr-FR", "Vase en verre", "un jardin au printemps à Nice, crème brûlée"),
        ],
    ),
    (
        "German",
        "cp1252",
        [
            ("de-DE", "Keramikbecher", "auf einem Marmortisch in München"),
            ("de-DE", "Duftkerze", "Herbstmorgen, goldene Blätter vor dem Fenster"),
            ("de-DE", "Teekanne", "in einer gemütlichen Küche in Köln"),
            ("de-DE", "Holzlampe", "Winterabend in den Bergen, Schnee und Kamin"),
        ],
    ),
    (
        "Spanish",
        "cp1252",
        [
            ("es-ES", "Taza de cerámica", "sobre una mesa de mármol en Sevilla"),
            ("es-ES", "Vela aromática", "mañana de otoño, hojas doradas en la ventana"),
            ("es-ES", "Tetera", "en una cocina acogedora en Málaga"),
            ("es-ES", "Lámpara de madera", "noche de invierno en la montaña, nieve y chimenea"),
        ],
    ),
    (
        "Icelandic",
        "cp1252",
        [
            ("is-IS", "Keramikbolli", "á marmaraborði í Reykjavík"),
            ("is-IS", "Ilmkerti", "haustmorgunn, gyllt laufblöð við gluggann"),
            ("is-IS", "Tekanna", "í notalegu eldhúsi á Akureyri"),
            ("is-IS", "Viðarlampi", "vetrarkvöld á fjöllum, snjór og arinn, Þingvellir"),
        ],
    ),
    (
        "Italian",
        "cp1252",
        [
            ("it-IT", "Tazza in ceramica", "su un tavolo di marmo a Milano"),
            ("it-IT", "Candela profumata", "mattina d'autunno, foglie dorate alla finestra"),
            ("it-IT", "Teiera", "in una cucina accogliente a Napoli, caffè e più"),
            ("it-IT", "Lampada in legno", "sera d'inverno in montagna, neve e camino, città"),
        ],
    ),
    (
        "Portuguese",
        "cp1252",
        [
            ("pt-PT", "Caneca de cerâmica", "numa mesa de mármore em Lisboa"),
            ("pt-PT", "Vela perfumada", "manhã de outono, folhas douradas na janela"),
            ("pt-BR", "Bule de chá", "numa cozinha acolhedora em São Paulo"),
            ("pt-BR", "Luminária de madeira", "noite de inverno nas montanhas, lareira e coração"),
        ],
    ),
    (
        "Danish",
        "cp1252",
        [
            ("da-DK", "Keramikkrus", "på et marmorbord i København"),
            ("da-DK", "Duftlys", "efterårsmorgen, gyldne blade ved vinduet"),
            ("da-DK", "Tekande", "i et hyggeligt køkken i Århus"),
            ("da-DK", "Trælampe", "vinteraften i bjergene, sne og pejs"),
        ],
    ),
    (
        "Swedish",
        "cp1252",
        [
            ("sv-SE", "Keramikmugg", "på ett marmorbord i Stockholm"),
            ("sv-SE", "Doftljus", "höstmorgon, gyllene löv vid fönstret"),
            ("sv-SE", "Tekanna", "i ett mysigt kök i Göteborg"),
            ("sv-SE", "Trälampa", "vinterkväll i fjällen, snö och öppen spis"),
        ],
    ),
    (
        "French (Mac)",
        "mac_roman",
        [
            ("fr-FR", "Tasse en céramique", "sur une table en marbre à Paris"),
            ("fr-FR", "Bougie parfumée", "un matin d'automne, feuilles dorées à la fenêtre"),
            ("fr-FR", "Théière", "dans une cuisine chaleureuse à Lyon"),
            ("fr-FR", "Lampe en bois", "soirée d'hiver à la montagne, neige et cheminée"),
        ],
    ),
    (
        "German (Mac)",
        "mac_roman",
        [
            ("de-DE", "Keramikbecher", "auf einem Marmortisch in München"),
            ("de-DE", "Duftkerze", "Herbstmorgen, goldene Blätter vor dem Fenster"),
            ("de-DE", "Teekanne", "in einer gemütlichen Küche in Köln"),
            ("de-DE", "Holzlampe", "Winterabend in den Bergen, Schnee und Kamin"),
        ],
    ),
    (
        "Japanese",
        "cp932",
        [
            ("ja-JP", "陶器のマグカップ", "東京の大理石のテーブルの上"),
            ("ja-JP", "アロマキャンドル", "秋の朝、窓辺の金色の葉"),
            ("ja-JP", "急須", "京都の温かい台所で"),
            ("ja-JP", "木のランプ", "冬の夜の山、雪と暖炉"),
        ],
    ),
    (
        "Chinese (simplified)",
        "gb18030",
        [
            ("zh-CN", "陶瓷杯", "在上海的大理石桌上"),
            ("zh-CN", "香薰蜡烛", "秋天的早晨，窗边金色的树叶"),
            ("zh-CN", "茶壶", "在北京温暖的厨房里"),
            ("zh-CN", "木灯", "冬天的夜晚，山上的雪和壁炉"),
        ],
    ),
    (
        "Chinese (traditional)",
        "big5",
        [
            ("zh-TW", "陶瓷杯", "在台北的大理石桌上"),
            ("zh-TW", "香氛蠟燭", "秋天的早晨，窗邊金色的樹葉"),
            ("zh-TW", "茶壺", "在高雄溫暖的廚房裡"),
            ("zh-TW", "木燈", "冬天的夜晚，山上的雪和壁爐"),
        ],
    ),
    (
        "Korean",
        "cp949",
        [
            ("ko-KR", "도자기 머그컵", "서울의 대리석 테이블 위에서"),
            ("ko-KR", "향초", "가을 아침, 창가의 황금빛 나뭇잎"),
            ("ko-KR", "찻주전자", "부산의 따뜻한 부엌에서"),
            ("ko-KR", "나무 램프", "겨울 밤의 산, 눈과 벽난로"),
        ],
    ),
]

# Tone marks Windows writes as combining characters in cp1258 (Vietnamese).
_TONES = "\u0300\u0301\u0303\u0309\u0323"


def encode_as_excel(text: str, encoding: str) -> bytes:
    """`text` in `encoding` the way Excel writes it (Vietnamese tones as combining marks)."""
    if encoding != "cp1258":
        return text.encode(encoding)
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], decomposed[1:]
        kept = "".join(m for m in marks if m not in _TONES)
        tones = "".join(m for m in marks if m in _TONES)
        out += (unicodedata.normalize("NFC", base + kept) + tones).encode("cp1258")
    return bytes(out)


def csv_text(rows: list[tuple[str, str, str]]) -> str:
    lines = ["market,product,setting", *(f'{m},{p},"{s}"' for m, p, s in rows)]
    return "\r\n".join(lines) + "\r\n"
