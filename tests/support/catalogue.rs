//! The sample campaign's field catalogue as the review pages label it (`config.toml`'s
//! `[[fields]]`, in order), for tests that build page inputs by hand.

pub const CATALOGUE: [&str; 9] = [
    "氏名",
    "性別",
    "生年月日",
    "(本メールを受信された)メールアドレス",
    "住所",
    "郵便番号",
    "電話番号",
    "パスポート番号",
    "パスポート取得日",
];
