//! A person's postal address as a letter needs it: a postal code of seven digits, at least
//! one address line, the prefecture for the vendor's presort. What is not usable is said by
//! kind, never by value.

/// The 47 prefectures, in the order of their JIS codes (01 北海道 … 47 沖縄県).
pub const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// An address a letter can be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalAddress {
    /// Seven ASCII digits, no hyphen: the manifest's sort key.
    pub postal_code: String,
    /// The non-empty address lines, trimmed.
    pub lines: Vec<String>,
    /// The prefecture, when the list names it or the address starts with it.
    pub prefecture: Option<String>,
}

impl PostalAddress {
    /// `123-4567`, as printed after 〒.
    pub fn postal_code_printed(&self) -> String {
        format!("{}-{}", &self.postal_code[..3], &self.postal_code[3..])
    }
}

/// Why a person's address cannot carry a letter (the kinds `letters` lists for a public
/// announcement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    NoPostalCode,
    BadPostalCode,
    NoAddress,
}

impl Unusable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unusable::NoPostalCode => "no_postal_code",
            Unusable::BadPostalCode => "bad_postal_code",
            Unusable::NoAddress => "no_address",
        }
    }
}

/// The address from the list's cells: the postal code, the address columns in order and the
/// prefecture column's cell (empty when the config names none).
pub fn parse(
    postal_code: &str,
    address: &[String],
    prefecture: &str,
) -> Result<PostalAddress, Unusable> {
    let code = normalize_postal_code(postal_code)?;
    let lines: Vec<String> = address
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(Unusable::NoAddress);
    }
    let prefecture = Some(prefecture.trim())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .or_else(|| {
            PREFECTURES
                .iter()
                .find(|p| lines[0].starts_with(*p))
                .map(|p| p.to_string())
        });
    Ok(PostalAddress {
        postal_code: code,
        lines,
        prefecture,
    })
}

/// Seven digits from `123-4567`, `1234567`, `〒123-4567` or their full-width forms.
fn normalize_postal_code(cell: &str) -> Result<String, Unusable> {
    let cell = cell.trim().trim_start_matches('〒').trim();
    if cell.is_empty() {
        return Err(Unusable::NoPostalCode);
    }
    let mut digits = String::with_capacity(7);
    for c in cell.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            '-' | '－' | 'ー' | '‐' | '−' => {}
            _ => return Err(Unusable::BadPostalCode),
        }
    }
    if digits.len() == 7 {
        Ok(digits)
    } else {
        Err(Unusable::BadPostalCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn postal_codes_as_people_write_them() {
        for cell in [
            "100-0005",
            "1000005",
            "〒100-0005",
            "１００－０００５",
            " 100ー0005 ",
        ] {
            let a = parse(cell, &lines(&["東京都千代田区丸の内1-1"]), "").unwrap();
            assert_eq!(a.postal_code, "1000005", "{cell}");
            assert_eq!(a.postal_code_printed(), "100-0005");
        }
        for cell in ["100-005", "10000050", "100-OOO5", "100 0005"] {
            assert_eq!(
                parse(cell, &lines(&["東京都"]), ""),
                Err(Unusable::BadPostalCode),
                "{cell}"
            );
        }
        assert_eq!(
            parse("", &lines(&["東京都"]), ""),
            Err(Unusable::NoPostalCode)
        );
    }

    #[test]
    fn an_address_needs_a_line_and_gives_its_prefecture() {
        assert_eq!(
            parse("100-0005", &lines(&["", "  "]), ""),
            Err(Unusable::NoAddress)
        );
        let a = parse(
            "060-0001",
            &lines(&["北海道札幌市中央区北1条西2", "", "楓ビル3F"]),
            "",
        )
        .unwrap();
        assert_eq!(a.lines, lines(&["北海道札幌市中央区北1条西2", "楓ビル3F"]));
        assert_eq!(a.prefecture.as_deref(), Some("北海道"));
        let b = parse("600-8001", &lines(&["下京区四条通"]), "京都府").unwrap();
        assert_eq!(b.prefecture.as_deref(), Some("京都府"));
        let c = parse("600-8001", &lines(&["下京区四条通"]), "").unwrap();
        assert_eq!(c.prefecture, None);
    }
}
