# Regenerates the hostile-input fixtures (exact bytes): python3 generate.py tests/data/hostile
import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
H = "id,email,name,brand,locale,leaked_name,leaked_email,leaked_phone"
G1 = "C0001,good1@example.jp,試験 一郎,kaede,ja,1,1,0"
G4 = "C0004,good4@example.jp,試験 四郎,umineko,en,1,0,1"
def row(id, email="bad@example.jp", name="試験 二郎", brand="kaede", locale="ja", flags="1,1,0"):
    return f"{id},{email},{name},{brand},{locale},{flags}"
def q(s):  # CSV-quote
    return '"' + s.replace('"', '""') + '"'
cases = {}
def std(name, bad_row, header=H, tail=True):
    lines = [header, G1, bad_row] + ([G4] if tail else [])
    cases[name] = ("\n".join(lines) + "\n").encode("utf-8")

# --- encodings
cases["enc_invalid_utf8_forced"] = (H + "\n" + G1 + "\n").encode() + b"C0002,bad@example.jp,\xe5\xb1\xff\xe7\x94\xb0,kaede,ja,1,1,0\n" + (G4 + "\n").encode()
cases["enc_invalid_bytes_auto"] = (H + "\nC0001,good1@example.jp,Ichiro Shiken,kaede,ja,1,1,0\n").encode() + b"C0002,bad@example.jp,\xff\xfe\xff,kaede,ja,1,1,0\nC0004,good4@example.jp,Shiro Shiken,umineko,en,1,0,1\n"
cases["enc_mixed_utf8_sjis"] = (H + "\n" + G1 + "\n").encode("utf-8") + row("C0002", name="佐藤 花子").encode("cp932") + b"\n" + (G4 + "\n").encode("utf-8")
cases["enc_bom_bad_flag"] = b"\xef\xbb\xbf" + (H + "\r\n" + G1 + "\r\n" + row("C0002", flags="1,maybe,0") + "\r\n" + G4 + "\r\n").encode()
cases["enc_cp932_vendor_ok"] = (H + "\r\n" + "C0001,good1@example.jp,髙橋 ①郎,kaede,ja,1,1,0\r\n" + "C0002,good2@example.jp,㈱テスト 﨑山 様,hoshizora,ja,1,0,1\r\n" + "C0003,good3@example.jp,德永 Ⅳ ∑,umineko,ja,○,×,有\r\n").encode("cp932")
cases["enc_sjis_bad_flag"] = (H + "\r\n" + "C0001,good1@example.jp,髙橋 一郎,kaede,ja,1,1,0\r\n" + row("C0002", flags="1,はい,0") + "\r\n").encode("cp932")
cases["enc_utf8_replacement_char"] = ("\n".join([H, G1, row("C0002", name="山田\ufffd太郎"), G4]) + "\n").encode()
# --- file level
cases["file_empty"] = b""
cases["file_header_only"] = (H + "\n").encode()
cases["file_missing_id"] = ("customer,email,name,brand,locale,leaked_name,leaked_email,leaked_phone\n" + G1 + "\n").encode()
cases["file_missing_email"] = ("id,mail,name,brand,locale,leaked_name,leaked_email,leaked_phone\n" + G1 + "\n").encode()
cases["file_duplicate_column"] = ("id,email,name,Name,brand,locale,leaked_name,leaked_email,leaked_phone\nC0001,good1@example.jp,試験 一郎,試験,kaede,ja,1,1,0\n").encode()
cases["file_unknown_leaked_column"] = ("id,email,name,brand,locale,leaked_name,leaked_credit_card\nC0001,good1@example.jp,試験 一郎,kaede,ja,1,1\n").encode()
cases["file_cr_only"] = (H + "\r" + G1 + "\r").encode()
cases["file_bad_header_bytes"] = b"id,email,name,\xff\xfe,brand\nC0001,a@example.jp,x,y,kaede\n"
# --- structure
std("ragged_short", "C0002,bad@example.jp,試験 二郎,kaede,ja")
std("ragged_long", "C0002,bad@example.jp,山田, 太郎,kaede,ja,1,1,0")
std("unbalanced_quote", 'C0002,bad@example.jp,"山田 太郎,kaede,ja,1,1,0', tail=True)
std("bad_flags", row("C0002", flags="1,2,はい"))
std("no_leaked_field", row("C0002", flags="0,,×"))
std("overlong_id", row("C" + "9" * 64))
std("overlong_name", row("C0002", name="山" * 101))
std("unknown_brand", row("C0002", brand="acme"))
std("unknown_locale", row("C0002", locale="fr"))
cases["duplicate_id"] = ("\n".join([H, G1, row("C0001"), G4]) + "\n").encode()
cases["duplicate_email_in_brand"] = ("\n".join([H, G1, row("C0002", email="good1@EXAMPLE.jp"), G4]) + "\n").encode()
# --- addresses
std("email_display_name", row("C0002", email=q('"Bob" <bad@example.jp>')))
std("email_comma_list", row("C0002", email=q("bad@example.jp,bcc@evil.example")))
std("email_semicolon_list", row("C0002", email="bad@example.jp; bcc@evil.example"))
std("email_quoted_local", row("C0002", email=q('"bad man"@example.jp')))
std("email_overlong_local", row("C0002", email="a" * 65 + "@example.jp"))
std("email_overlong", row("C0002", email="bad@" + ".".join(["b" * 60] * 5) + ".jp"))
std("email_idn", row("C0002", email="user@例え.jp"))
std("email_address_literal", row("C0002", email="user@[127.0.0.1]"))
std("email_fullwidth_at", row("C0002", email="bad＠example.jp"))
# --- injection / invisible characters
cases["inject_name_crlf_bcc"] = ("\n".join([H, G1, row("C0002", name=q("山田 太郎\r\nBcc: spy@evil.example")), row("C0003", flags="1,maybe,0"), G4]) + "\n").encode()
cases["inject_id_lf"] = ("\n".join([H, G1, row(q("C00\n02")), row("C0003", flags="1,maybe,0"), G4]) + "\n").encode()
std("inject_email_crlf", row("C0002", email=q("bad@example.jp\r\nBcc: spy@evil.example")))
std("inject_subject_brand_lf", row("C0002", brand=q("kaede\r\nSubject: win")))
std("control_ansi_escape", row("C0002", name="山田\x1b[2J\x1b[31m太郎\x07"))
std("control_nul", row("C0002", name="山田\x00太郎"))
std("bidi_override", row("C0002", name="山田\u202egpj.exe"))
std("zero_width_space", row("C0002", name="www\u200b.example\u200b.com"))
std("zero_width_bom_mid_email", row("C0002", email="bad\ufeff@example.jp"))
# --- links in the name
for case, name in [
    ("link_www", "www.example.com"),
    ("link_fullwidth_www", "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ"),
    ("link_ideographic_dot", "example。com"),
    ("link_halfwidth_ideographic_dot", "ｅｘａｍｐｌｅ｡ｃｏｍ"),
    ("link_http", "http://x"),
    ("link_fullwidth_https", "ｈｔｔｐｓ：／／ｅｘａｍｐｌｅ．ｊｐ"),
    ("link_fullwidth_scheme_only", "ｈｔｔｐｓ：／／"),
    ("link_fullwidth_email", "user＠example.jp"),
    ("link_ipv4", "192.168.0.1"),
    ("link_fullwidth_ipv4", "１９２．１６８．０．１"),
    ("link_punycode", "xn--example.jp"),
    ("link_ipv6", "[::1]"),
    ("link_with_sama", "山田 example.co.jp 様"),
    ("link_javascript", "javascript:alert(1)"),
    ("link_one_dot_leader", "example\u2024com"),
]:
    std(case, row("C0002", name=q(name) if ("," in name or '"' in name) else name))
cases["enc_mixed_utf8_valid_as_sjis"] = (H + "\nC0001,good1@example.jp,山田,kaede,ja,1,1,0\n").encode("utf-8") + row("C0002", email="good2@example.jp", name="佐藤 花子").encode("cp932") + b"\n"
std("link_soft_hyphen", row("C0002", name="example.\u00adcom"))
std("link_trailing_underscore", row("C0002", name="example.com_"))
std("link_idn_ideographic_dot", row("C0002", name="例え。jp"))
cases["line_numbers_blank_lines"] = ("\n".join([H, G1, "", "", row("C0002", flags="1,1,nope"), G4]) + "\n").encode()
cases["crlf_empty_lines_mid_list"] = ("\r\n".join([H, G1, "", "", row("C0002", flags="1,1,nope"), G4]) + "\r\n").encode()
cases["blank_cells_mid_list"] = ("\n".join([H, G1, ",,,,,,,", "  ,, ,,,,,", row("C0002", flags="1,1,nope"), G4]) + "\n").encode()
HM = H + ",memo"
cases["line_numbers_crlf_multiline_memo"] = ("\r\n".join([HM, G1 + ",", "C0003,good3@example.jp,試験 三郎,hoshizora,ja,0,1,0," + q("memo www.example.com\r\nBcc: spy@evil.example\r\n,,,"), row("C0002", flags="1,1,nope") + ",", G4 + ","]) + "\r\n").encode()
# --- positive controls (must be accepted)
cases["ok_template_syntax_name"] = ("\n".join([H, G1, row("C0002", name="{{ reference }}{% raw %}<b>&amp;"), G4]) + "\n").encode()
cases["ok_id_path_traversal"] = ("\n".join([H, G1, row("../../escape"), G4]) + "\n").encode()
cases["ok_legacy_mobile_address"] = ("\n".join([H, G1, row("C0002", email="taro..yamada@docomo.ne.jp"), G4]) + "\n").encode()
for k, v in cases.items():
    open(os.path.join(out, k + ".csv"), "wb").write(v)
print(len(cases))
