//! Micro benchmark of the no-link lint on a clean ~1,500-char Japanese notice.
//! Run: `cargo test --release --test lint_bench -- --ignored --nocapture`

use std::time::Instant;

use tsuchi::render::find_links;

fn notice() -> String {
    let para = "山田 太郎 様\n\n\
このたびは、弊社が運営するオンライン旅行サービスにおいて、お客様の個人情報が外部に流出した可能性があることが判明いたしました。\
お客様には多大なるご迷惑とご心配をおかけしておりますことを、心より深くお詫び申し上げます。\n\n\
【概要】\n2026年10月14日、弊社サーバーに対する第三者からの不正アクセスを確認いたしました。\
調査の結果、以下の情報が流出した可能性があることが分かりました。\n\
(1)氏名\n(2)性別\n(3)生年月日\n(4)(本メールを受信された)メールアドレス\n(5)住所\n\
なお、クレジットカード情報、銀行口座情報、ご予約の内容は含まれておりません。\n\n\
【お客様へのお願い】\n弊社から、お電話やメールでクレジットカード番号やパスワードをお尋ねすることは一切ございません。\
不審な連絡にはご注意ください。\
本メールには、お客様の安全のためリンクを記載しておりません。弊社ウェブサイトは検索してご確認ください。\n\n\
【お問い合わせ窓口】\n専用ダイヤル 0120-000-101\n受付時間 9:00〜20:00(土日祝日を含む)\n\
お問い合わせの際は、参照番号 AB12-CD34 をお伝えください。\n";
    let mut s = String::new();
    while s.chars().count() < 1500 {
        s.push_str(para);
    }
    s.chars().take(1500).collect()
}

fn bench(label: &str, text: &str) {
    assert!(
        find_links(text).is_empty(),
        "{label}: {:?}",
        find_links(text)
    );
    let n = 200_000;
    let t = Instant::now();
    let mut found = 0usize;
    for _ in 0..n {
        found += find_links(std::hint::black_box(text)).len();
    }
    let el = t.elapsed();
    assert_eq!(found, 0);
    println!(
        "{label}: {} chars, {:.2} µs/notice, {:.0} notices/s on one core",
        text.chars().count(),
        el.as_secs_f64() * 1e6 / n as f64,
        n as f64 / el.as_secs_f64()
    );
}

#[test]
#[ignore]
fn lint_throughput() {
    let with_times = notice();
    bench("notice with times (9:00)", &with_times);
    let no_triggers = with_times.replace(':', "時");
    bench("notice without . @ : 。", &no_triggers.replace('。', "、"));
    bench("notice with 。 but no . @ :", &no_triggers);
    let fullwidth = with_times.replace("0120-000-101", "０１２０－０００－１０１");
    bench("notice with full-width digits", &fullwidth);
}
