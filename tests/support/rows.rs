//! The generated list of fictional recipients that tests and benches share: `row(i)` is the
//! recipient of row `i` (`bench/generate.py` writes the same rows).
#![allow(dead_code)]

pub const BRANDS: [&str; 3] = ["kaede", "hoshizora", "umineko"];

/// A generated recipient row.
pub fn row(i: usize) -> String {
    let brand = BRANDS[i % 3];
    let locale = if i % 7 == 3 { "en" } else { "ja" };
    // Flags vary with i so that lists have several variants; name and e-mail always leak.
    let flag = |bit: usize| if (i >> bit) & 1 == 1 { "1" } else { "0" };
    format!(
        "C{i:06},user{i}@example.jp,試験 太郎{i},{brand},{locale},1,{},{},1,{},{},{},{},{}",
        flag(0),
        flag(1),
        flag(2),
        flag(2),
        flag(3),
        flag(4),
        flag(4)
    )
}

pub const HEADER: &str = "id,email,name,brand,locale,leaked_name,leaked_gender,leaked_birth_date,leaked_email,leaked_address,leaked_postal_code,leaked_phone,leaked_passport_number,leaked_passport_issue_date";
