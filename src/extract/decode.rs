//! Bytes in any encoding counties use → UTF-8, streaming, never guessing silently.
//!
//! The encoding is declared (pipeline file) or detected: a BOM decides (UTF-8, UTF-16LE/BE); a
//! sample that is valid UTF-8 is UTF-8; otherwise Firefox's detector (`chardetng`) judges the
//! whole sample. It is asked twice — as if the file came from a Chinese source and from a generic
//! one — and trusted only when both answers agree: Windows-1252 bytes are often valid GBK pairs
//! (`’s` is 0x92 0x73), so a file the two readings disagree on is refused with a message naming
//! the `encoding` key, never read as mojibake. What was detected and how is in the ledger. Bytes
//! that are not valid in the chosen encoding stop the file with an error naming the byte offset —
//! never a silent U+FFFD. CRLF and bare CR line endings (Windows, old Mac exports) become LF so
//! rows are counted as a person sees them.

use std::io::{self, Read};

use encoding_rs::{DecoderResult, Encoding, GB18030, GBK, UTF_8, UTF_16BE, UTF_16LE};

/// How many bytes are sniffed to detect the encoding and the delimiter.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// How an encoding was established, from most to least certain (the ledger records it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingBasis {
    /// The pipeline file declares it.
    Declared,
    /// The file starts with a byte-order mark.
    ByteOrderMark,
    /// The sample is valid UTF-8 (plain ASCII included).
    ValidUtf8,
    /// NUL bytes in every other position: UTF-16 without a byte-order mark.
    NulPattern,
    /// `chardetng` gave the same answer for a Chinese and a generic source.
    Detector,
    /// `chardetng`'s answer for a generic source, the GBK reading it gave for a Chinese source
    /// being ruled out (almost none of its pairs are GB2312 characters).
    DetectorGbkRuledOut,
}

impl EncodingBasis {
    /// What the ledger says (`declared`, `byte-order mark`, `valid UTF-8`, …).
    pub fn describe(self) -> &'static str {
        match self {
            EncodingBasis::Declared => "declared",
            EncodingBasis::ByteOrderMark => "byte-order mark",
            EncodingBasis::ValidUtf8 => "valid UTF-8",
            EncodingBasis::NulPattern => "UTF-16 by its NUL bytes (no byte-order mark)",
            EncodingBasis::Detector => "detected by chardetng (the same for a Chinese and a generic source)",
            EncodingBasis::DetectorGbkRuledOut => {
                "detected by chardetng for a generic source (read as GBK, almost none of it would be GB2312 characters)"
            }
        }
    }

    /// How sure the reading is: `certain` when declared or proven by the bytes, `high` when a
    /// detector's two readings agreed.
    pub fn confidence(self) -> &'static str {
        match self {
            EncodingBasis::Declared | EncodingBasis::ByteOrderMark | EncodingBasis::ValidUtf8 => "certain",
            EncodingBasis::NulPattern | EncodingBasis::Detector | EncodingBasis::DetectorGbkRuledOut => "high",
        }
    }
}

/// The encoding a file is read in, the length of its byte-order mark and how it was decided.
#[derive(Debug, Clone, Copy)]
pub struct Detected {
    /// The encoding (GBK is always read as its superset GB18030).
    pub encoding: &'static Encoding,
    /// Bytes of byte-order mark to skip.
    pub bom: usize,
    /// How the encoding was established.
    pub basis: EncodingBasis,
}

/// The first bytes of a file and how it is encoded (what the CSV and JSON readers both start
/// from). A file that cannot be read, or whose encoding cannot be told, fails with its name.
pub fn sniff(
    reader: &mut dyn std::io::Read,
    file: &super::SourceFile,
) -> Result<(Vec<u8>, Detected), super::FileFailure> {
    use std::io::Read as _;
    let fail = |rule, msg: String| super::FileFailure::in_file(file, rule, msg);
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    reader
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| fail(crate::contract::Rule::UnreadableFile, format!("cannot read: {e}")))?;
    let complete = head.len() < SNIFF_BYTES;
    let detected = detect(&head, file.options.encoding.as_deref(), complete).map_err(|e| match e {
        Undetectable::UnknownLabel(msg) | Undetectable::Invalid(msg) => {
            fail(crate::contract::Rule::UnreadableFile, msg)
        }
        Undetectable::Ambiguous(msg) => fail(crate::contract::Rule::EncodingUncertain, msg),
    })?;
    Ok((head, detected))
}

/// Why no encoding could be chosen.
#[derive(Debug)]
pub enum Undetectable {
    /// The declared encoding is not one encoding_rs knows.
    UnknownLabel(String),
    /// The bytes read sensibly in two encodings (the message names both and the `encoding` key).
    Ambiguous(String),
    /// The bytes are valid in none of the encodings they could be (the message names the offset).
    Invalid(String),
}

/// Pick the encoding: the declared one, a BOM, valid UTF-8, UTF-16 by its NULs, else what
/// `chardetng` says when it says the same for a Chinese and a generic source. `complete` says the
/// sample is the whole file (so a sequence cut at its end is an error, not the sample's edge).
pub fn detect(head: &[u8], declared: Option<&str>, complete: bool) -> Result<Detected, Undetectable> {
    if let Some(label) = declared {
        let enc = Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| Undetectable::UnknownLabel(format!("unknown encoding {label:?}")))?;
        let bom = match Encoding::for_bom(head) {
            Some((e, len)) if e == enc => len,
            _ => 0,
        };
        return Ok(Detected { encoding: superset(enc), bom, basis: EncodingBasis::Declared });
    }
    if let Some((encoding, bom)) = Encoding::for_bom(head) {
        return Ok(Detected { encoding, bom, basis: EncodingBasis::ByteOrderMark });
    }
    if head.len() >= 4 && head.iter().filter(|&&b| b == 0).count() * 4 >= head.len() {
        // UTF-16 without a BOM: NULs are the high bytes of ASCII characters.
        let even_nuls = head.iter().step_by(2).filter(|&&b| b == 0).count();
        let odd_nuls = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
        let encoding = if even_nuls > odd_nuls { UTF_16BE } else { UTF_16LE };
        return Ok(Detected { encoding, bom: 0, basis: EncodingBasis::NulPattern });
    }
    match std::str::from_utf8(head) {
        Ok(_) => return Ok(Detected { encoding: UTF_8, bom: 0, basis: EncodingBasis::ValidUtf8 }),
        // An incomplete sequence at the very end of the sample is the sample's edge, not an error.
        Err(e) if e.error_len().is_none() && !complete => {
            return Ok(Detected { encoding: UTF_8, bom: 0, basis: EncodingBasis::ValidUtf8 });
        }
        Err(_) => {}
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(head, complete);
    let chinese = detector.guess(Some(b"cn"), chardetng::Utf8Detection::Deny);
    let generic = detector.guess(None, chardetng::Utf8Detection::Deny);
    if superset(chinese) == superset(generic) {
        return Ok(Detected { encoding: superset(chinese), bom: 0, basis: EncodingBasis::Detector });
    }
    // The readings disagree and the sample is not GBK either: neither UTF-8 nor GBK, and no
    // single-byte reading both agree on — a damaged file (or not text), named by its first bad byte.
    if let Some(offset) = first_invalid(GB18030, head, complete) {
        return Err(Undetectable::Invalid(neither_utf8_nor_gbk(offset)));
    }
    // Only the Chinese reading says GBK. Chinese text in GBK is made of GB2312 pairs (both bytes
    // 0xA1–0xFE); Western text read as GBK pairs an accented letter with the ASCII letter after
    // it, which GB2312 never does. A GBK reading with (almost) no GB2312 pair is ruled out.
    if chinese == GBK && gb2312_share(head) < 0.05 {
        return Ok(Detected { encoding: generic, bom: 0, basis: EncodingBasis::DetectorGbkRuledOut });
    }
    Err(Undetectable::Ambiguous(format!(
        "the encoding cannot be told with confidence: the file reads as {} (\"{}\") or as {} (\"{}\"); declare it in the pipeline file, e.g. encoding = \"{}\" in [source] or in the table's entry",
        label(chinese),
        sample_in(head, chinese),
        label(generic),
        sample_in(head, generic),
        generic.name().to_ascii_lowercase(),
    )))
}

/// What a file that is neither UTF-8 nor GBK is told: where its first bad byte is, and what to do.
fn neither_utf8_nor_gbk(offset: usize) -> String {
    format!(
        "the file is neither UTF-8 nor GBK/GB18030: the bytes at offset {offset} are invalid in both (save it as UTF-8, or declare its encoding in the pipeline file, e.g. encoding = \"windows-1252\")"
    )
}

/// The offset of the first byte not valid in `encoding`, if any (an incomplete sequence at the
/// end of a sample that is not the whole file is not counted).
fn first_invalid(encoding: &'static Encoding, bytes: &[u8], complete: bool) -> Option<usize> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut text = String::with_capacity(decoder.max_utf8_buffer_length_without_replacement(bytes.len())?);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, complete);
    match result {
        DecoderResult::Malformed(bad, after) => Some(read - after as usize - bad as usize),
        _ => None,
    }
}

/// Of the byte pairs a GBK reading makes, the share that are GB2312 (both bytes 0xA1–0xFE).
fn gb2312_share(bytes: &[u8]) -> f64 {
    let (mut pairs, mut gb2312, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let lead = bytes[i];
        if lead < 0x81 || lead == 0xFF || i + 1 == bytes.len() {
            i += 1;
            continue;
        }
        let trail = bytes[i + 1];
        pairs += 1;
        if (0xA1..=0xFE).contains(&lead) && (0xA1..=0xFE).contains(&trail) {
            gb2312 += 1;
        }
        i += 2;
    }
    if pairs == 0 { 1.0 } else { gb2312 as f64 / pairs as f64 }
}

/// GBK is decoded as GB18030: the same bytes for everything GBK defines, no hole for the rest.
fn superset(encoding: &'static Encoding) -> &'static Encoding {
    if encoding == GBK { GB18030 } else { encoding }
}

/// An encoding's name as a person knows it.
fn label(encoding: &'static Encoding) -> String {
    if encoding == GBK || encoding == GB18030 { "GBK/GB18030".to_owned() } else { encoding.name().to_owned() }
}

/// The first line of the sample with a non-ASCII byte, decoded in `encoding` and cut to 60
/// characters, so the user can see which reading is right.
fn sample_in(head: &[u8], encoding: &'static Encoding) -> String {
    let line = head.split(|&b| b == b'\n').find(|l| !l.is_ascii()).unwrap_or(head);
    let (text, _) = encoding.decode_without_bom_handling(line);
    let text = text.trim();
    let start = text.char_indices().find(|(_, c)| !c.is_ascii()).map_or(0, |(i, _)| i);
    let from = text[..start].char_indices().rev().nth(20).map_or(0, |(i, _)| i);
    text[from..].chars().take(60).collect()
}

/// A reader that decodes `inner` from `encoding` into UTF-8, failing at the first malformed byte.
pub struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    encoding: &'static Encoding,
    input: Box<[u8]>,
    input_start: usize,
    input_end: usize,
    /// Source bytes consumed before `input[0]`, for error offsets.
    offset_of_input: u64,
    skip: usize,
    text: String,
    output: Vec<u8>,
    output_start: usize,
    eof: bool,
    finished: bool,
    pending_cr: bool,
    detected: bool,
}

impl<R: Read> DecodingReader<R> {
    /// Decode `inner` (the whole file, its sampled head first) as [`detect`] decided: its byte-order
    /// mark is consumed without output, and how the encoding was decided words the error messages.
    pub fn new(inner: R, detected: &Detected) -> Self {
        let Detected { encoding, bom: skip, basis } = *detected;
        DecodingReader {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            encoding,
            input: vec![0; 64 * 1024].into_boxed_slice(),
            input_start: 0,
            input_end: 0,
            offset_of_input: 0,
            skip,
            text: String::new(),
            output: Vec::new(),
            output_start: 0,
            eof: false,
            finished: false,
            pending_cr: false,
            detected: basis != EncodingBasis::Declared,
        }
    }

    /// The encoding being decoded.
    pub fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// Decode the next block of input into `output`. Leaves `output` empty only at the end.
    fn fill(&mut self) -> io::Result<()> {
        self.output.clear();
        self.output_start = 0;
        while self.output.is_empty() && !self.finished {
            if self.input_start == self.input_end && !self.eof {
                self.offset_of_input += self.input_end as u64;
                self.input_start = 0;
                self.input_end = read_full(&mut self.inner, &mut self.input)?;
                self.eof = self.input_end == 0;
                if self.skip > 0 {
                    let s = self.skip.min(self.input_end);
                    self.input_start = s;
                    self.skip -= s;
                }
            }
            let src = &self.input[self.input_start..self.input_end];
            self.text.clear();
            self.text.reserve(
                self.decoder.max_utf8_buffer_length_without_replacement(src.len()).unwrap_or(src.len() * 3 + 16),
            );
            let (result, read) = self.decoder.decode_to_string_without_replacement(src, &mut self.text, self.eof);
            if let DecoderResult::Malformed(bad, after) = result {
                let at = (self.input_start + read) as u64;
                let offset = (self.offset_of_input + at).saturating_sub(after as u64 + bad as u64);
                let message = if self.detected && self.encoding == GB18030 {
                    neither_utf8_nor_gbk(offset as usize)
                } else {
                    format!(
                        "the bytes at offset {offset} are not valid {} (if the file is in another encoding, declare it in the pipeline file, e.g. encoding = \"gbk\" or encoding = \"windows-1252\")",
                        self.encoding.name()
                    )
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            self.input_start += read;
            let text = std::mem::take(&mut self.text);
            self.push_normalising_cr(&text);
            self.text = text;
            if self.eof && matches!(result, DecoderResult::InputEmpty) {
                if self.pending_cr {
                    self.output.push(b'\n');
                    self.pending_cr = false;
                }
                self.finished = true;
            }
        }
        Ok(())
    }

    /// Append decoded text with line endings made LF: CRLF and a bare CR both end one line
    /// (the CSV parser then counts lines as a person does), across block boundaries.
    fn push_normalising_cr(&mut self, text: &str) {
        for &b in text.as_bytes() {
            if self.pending_cr {
                if b != b'\n' {
                    self.output.push(b'\n');
                }
                self.pending_cr = false;
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                self.output.push(b);
            }
        }
    }
}

/// Read until `buf` is full or the input ends (small reads from network streams are common).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.output_start == self.output.len() {
            self.fill()?;
            if self.output.is_empty() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.output.len() - self.output_start);
        buf[..n].copy_from_slice(&self.output[self.output_start..self.output_start + n]);
        self.output_start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], declared: Option<&str>) -> Result<String, String> {
        let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
        let d = detect(head, declared, head.len() < SNIFF_BYTES).map_err(|e| format!("{e:?}"))?;
        let mut out = String::new();
        DecodingReader::new(bytes, &d).read_to_string(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(decode_all("学校,年份\n".as_bytes(), None).unwrap(), "学校,年份\n");
        assert_eq!(decode_all(b"\xEF\xBB\xBFa,b\n", None).unwrap(), "a,b\n");
    }

    #[test]
    fn gbk_is_detected_and_decoded() {
        let (gbk, _, _) = encoding_rs::GBK.encode("学校标识码,在校生数\n2311820001,12\n");
        assert_eq!(decode_all(&gbk, None).unwrap(), "学校标识码,在校生数\n2311820001,12\n");
        assert_eq!(decode_all(&gbk, Some("gbk")).unwrap(), "学校标识码,在校生数\n2311820001,12\n");
    }

    fn detected(bytes: &[u8]) -> Result<Detected, Undetectable> {
        detect(bytes, None, true)
    }

    #[test]
    fn a_short_gbk_header_is_gbk() {
        let (gbk, _, _) = GBK.encode("学校标识码,学校名称,年份,在校生数\n2311820001,城关小学,2023,812\n");
        let d = detected(&gbk).unwrap();
        assert_eq!((d.encoding, d.basis), (GB18030, EncodingBasis::Detector));
    }

    #[test]
    fn windows_1252_accents_are_not_read_as_gbk() {
        // "éa" and "Éc" are valid GBK pairs, but no GB2312 ones: the GBK reading is ruled out.
        let (bytes, _, _) =
            encoding_rs::WINDOWS_1252.encode("District,School,Enrolled\nMontréal,École Saint-Jean,412\n");
        let d = detected(&bytes).unwrap();
        assert_eq!(d.encoding, encoding_rs::WINDOWS_1252);
        assert!(matches!(d.basis, EncodingBasis::Detector | EncodingBasis::DetectorGbkRuledOut), "{d:?}");
        assert_eq!(decode_all(&bytes, None).unwrap(), "District,School,Enrolled\nMontréal,École Saint-Jean,412\n");
    }

    #[test]
    fn windows_1252_quotes_are_not_read_as_gbk() {
        // ’ is 0x92 in Windows-1252; 0x92 0x73 ("’s") is also a valid GBK pair (抯), not GB2312.
        let text = "name,pupils\nSt Mary’s School,310\nSt John’s School,280\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        assert_eq!(detected(&bytes).unwrap().encoding, encoding_rs::WINDOWS_1252);
        assert_eq!(decode_all(&bytes, None).unwrap(), text);
    }

    #[test]
    fn bytes_valid_in_both_are_refused_naming_the_key() {
        // "öß", "ÄÖ", "ÜÉ": pairs of Latin letters that are also GB2312 characters (鲞, 腫, 苇),
        // the generic reading Western, the Chinese one GBK; the file must say which it is.
        let text = "Ort,Schüler\nGrößenwahn ÄÖ,310\nÜÉ Schule,280\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        match detected(&bytes) {
            Err(Undetectable::Ambiguous(msg)) => {
                assert!(msg.contains("encoding = \"windows-1252\""), "{msg}");
                assert!(msg.contains("(\"Ort,Schüler\")") && msg.contains("GBK/GB18030"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        // Declared, it is read as declared.
        assert_eq!(decode_all(&bytes, Some("windows-1252")).unwrap(), text);
    }

    #[test]
    fn bytes_valid_in_neither_utf8_nor_gbk_name_their_offset() {
        // "ÿÿ" in a numeric column: 0xFF is no GBK lead byte; the detector's readings disagree.
        // The header line is 32 bytes with its line break, "2018,9901020001,1," 18 more: the first
        // 0xFF is at offset 50.
        let bytes = b"year,school_code,grade,students\n2018,9901020001,1,\xFF\xFF,1\n";
        match detected(bytes) {
            Err(Undetectable::Invalid(msg)) => assert!(msg.contains("offset 50"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_is_certain_says_so() {
        assert_eq!(detected(b"year,pupils\n2023,5\n").unwrap().basis.confidence(), "certain");
        assert_eq!(detected("年份\n".as_bytes()).unwrap().basis, EncodingBasis::ValidUtf8);
        assert_eq!(detect(b"a\n", Some("gbk"), true).unwrap().basis, EncodingBasis::Declared);
        // A cut multi-byte sequence at the end of a whole file is not UTF-8.
        assert_ne!(detected(b"a,b\n\xE5\xAD").map(|d| d.encoding).ok(), Some(UTF_8));
    }

    #[test]
    fn utf16_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "年份,学校\r\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_all(&bytes, None).unwrap(), "年份,学校\n");
    }

    #[test]
    fn invalid_bytes_name_their_offset() {
        let mut bytes = b"year,students\n2018,".to_vec();
        bytes.extend_from_slice(&[0xFF, 0xFF]);
        let err = decode_all(&bytes, Some("utf-8")).unwrap_err();
        assert!(err.contains("offset 19"), "{err}");
    }

    #[test]
    fn crlf_and_bare_cr_become_lf() {
        assert_eq!(decode_all(b"a\rb\r\nc\r", None).unwrap(), "a\nb\nc\n");
    }

    #[test]
    fn long_input_crosses_blocks() {
        let line = "学校标识码,在校生数\r\n";
        let text = line.repeat(20_000);
        let expected = text.replace("\r\n", "\n");
        assert_eq!(decode_all(text.as_bytes(), None).unwrap(), expected);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert_eq!(decode_all(&gbk, None).unwrap(), expected);
    }
}
