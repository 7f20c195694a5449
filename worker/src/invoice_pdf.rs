//! Renders an [`InvoiceDocument`] to an A4 PDF with printpdf: the seller's identity at the top
//! left, the title, number and dates at the top right, the buyer below, then the lines in a
//! table (continued on further pages when long), the totals, and the legal mentions. The 14
//! standard PDF fonts are used (Helvetica), so nothing is embedded and a PDF weighs a few
//! kilobytes; their text is WinAnsi-encoded, which covers French (accents, €, «»).
//!
//! printpdf places text at positions and does not measure it; [`text_width`] does, from
//! Helvetica's published metrics, to right-align amounts and wrap long texts.

use printpdf::{
    BuiltinFont, Color, Line, LinePoint, Mm, Op, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rgb, TextItem,
};
use zencall_core::domain::invoice::{
    DocumentKind, InvoiceDocument, format_amount, format_rate, format_unit_price,
};
use zencall_core::domain::vat::VatTreatment;

const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const MARGIN: f32 = 18.0;
/// Lowest baseline for table rows before the page breaks (room for the footer).
const BOTTOM: f32 = 28.0;
const POINTS_PER_MM: f32 = 72.0 / 25.4;

/// Table columns: left edge of the description, then the right edges of period, quantity,
/// unit price, VAT rate and amount.
const COL_DESCRIPTION: f32 = MARGIN;
const COL_PERIOD_LEFT: f32 = 92.0;
const COL_QUANTITY_RIGHT: f32 = 134.0;
const COL_UNIT_RIGHT: f32 = 158.0;
const COL_VAT_RIGHT: f32 = 172.0;
const COL_AMOUNT_RIGHT: f32 = PAGE_WIDTH - MARGIN;

/// Helvetica advance widths (1/1000 em) of the printable ASCII characters, from Adobe's AFM.
const HELVETICA_ASCII: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0..9
    278, 278, 584, 584, 584, 556, 1015, // :..@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // A..Z
    278, 278, 278, 469, 556, 333, // [..`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
    278, 556, 500, 722, 500, 500, 500, // a..z
    334, 260, 334, 584, // {..~
];

/// Width of `c` in Helvetica, in 1/1000 em; accented letters take their base letter's width.
fn char_width(c: char) -> u16 {
    let base = match c {
        'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => 'a',
        'À' | 'Â' | 'Ä' | 'Á' => 'A',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'É' | 'È' | 'Ê' | 'Ë' => 'E',
        'î' | 'ï' | 'í' | 'ì' => 'i',
        'Î' | 'Ï' => 'I',
        'ô' | 'ö' | 'ó' | 'ò' | 'õ' => 'o',
        'Ô' | 'Ö' => 'O',
        'ù' | 'û' | 'ü' | 'ú' => 'u',
        'Ù' | 'Û' | 'Ü' => 'U',
        'ç' => 'c',
        'Ç' => 'C',
        'ÿ' => 'y',
        '’' | '‘' => '\'',
        '–' => '-',
        other => other,
    };
    match base {
        ' '..='~' => HELVETICA_ASCII[usize::from(base as u8 - b' ')],
        '€' => 556,
        '°' => 400,
        '«' | '»' => 556,
        '—' => 1000,
        '…' => 1000,
        '\u{a0}' => 278,
        _ => 556,
    }
}

/// Width of `text` at `size` points, in millimetres; bold is about 5 % wider.
pub fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    let units: u32 = text.chars().map(|c| u32::from(char_width(c))).sum();
    let width = units as f32 / 1000.0 * size / POINTS_PER_MM;
    if bold { width * 1.05 } else { width }
}

/// Splits `text` into lines no wider than `max_mm`, at spaces (a word longer than a line is
/// cut).
fn wrap(text: &str, size: f32, max_mm: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if text_width(&candidate, size, false) <= max_mm || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        }
        while text_width(&line, size, false) > max_mm && line.chars().count() > 1 {
            let mut head = String::new();
            for c in line.chars() {
                if text_width(&format!("{head}{c}"), size, false) > max_mm && !head.is_empty() {
                    break;
                }
                head.push(c);
            }
            let rest = line[head.len()..].to_string();
            lines.push(head);
            line = rest;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The operations of one page being drawn.
struct Canvas {
    ops: Vec<Op>,
}

impl Canvas {
    fn new() -> Self {
        Self { ops: Vec::new() }
    }

    /// Writes `text` with its baseline at `y` mm from the bottom, starting at `x` mm.
    fn text(&mut self, text: &str, x: f32, y: f32, size: f32, bold: bool) {
        let font = if bold {
            BuiltinFont::HelveticaBold
        } else {
            BuiltinFont::Helvetica
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(y)),
            },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    /// Writes `text` ending at `right` mm.
    fn text_right(&mut self, text: &str, right: f32, y: f32, size: f32, bold: bool) {
        let x = right - text_width(text, size, bold);
        self.text(text, x, y, size, bold);
    }

    /// A horizontal rule at `y` from `x1` to `x2`.
    fn rule(&mut self, x1: f32, x2: f32, y: f32) {
        self.ops.extend([
            Op::SetOutlineColor {
                col: Color::Rgb(Rgb {
                    r: 0.6,
                    g: 0.6,
                    b: 0.6,
                    icc_profile: None,
                }),
            },
            Op::SetOutlineThickness { pt: Pt(0.5) },
            Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint {
                            p: Point::new(Mm(x1), Mm(y)),
                            bezier: false,
                        },
                        LinePoint {
                            p: Point::new(Mm(x2), Mm(y)),
                            bezier: false,
                        },
                    ],
                    is_closed: false,
                },
            },
        ]);
    }
}

fn date(d: chrono::NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// The invoice as PDF bytes.
pub fn render(doc: &InvoiceDocument) -> Vec<u8> {
    let mut pages: Vec<Canvas> = Vec::new();
    let mut page = Canvas::new();
    let mut y = PAGE_HEIGHT - MARGIN - 4.0;

    // The seller, top left.
    page.text(&doc.seller.name, MARGIN, y, 13.0, true);
    let mut seller_lines: Vec<String> = doc.seller.legal_form.iter().cloned().collect();
    seller_lines.extend(doc.seller.address.iter().cloned());
    seller_lines.extend(doc.seller.registration.iter().cloned());
    seller_lines.extend(
        doc.seller
            .vat_id
            .iter()
            .map(|v| format!("TVA intracommunautaire : {v}")),
    );
    seller_lines.extend(doc.seller.email.iter().cloned());
    let mut ly = y - 5.5;
    for line in &seller_lines {
        page.text(line, MARGIN, ly, 9.0, false);
        ly -= 4.2;
    }

    // Title, number and dates, top right.
    let right = PAGE_WIDTH - MARGIN;
    page.text_right(doc.kind.title(), right, y, 20.0, true);
    page.text_right(&format!("N° {}", doc.number), right, y - 8.0, 11.0, true);
    page.text_right(
        &format!("Date d'émission : {}", date(doc.issued_on)),
        right,
        y - 13.5,
        9.0,
        false,
    );
    let third_line = match &doc.credits {
        None => format!("Date d'échéance : {}", date(doc.due_on)),
        Some(c) => format!("Annule la facture {} du {}", c.number, date(c.issued_on)),
    };
    page.text_right(&third_line, right, y - 18.0, 9.0, false);

    // The buyer, right column under the dates.
    y = ly.min(y - 26.0) - 6.0;
    let buyer_x = 112.0;
    page.text("Facturé à", buyer_x, y, 9.0, true);
    let mut by = y - 5.0;
    page.text(&doc.buyer.name, buyer_x, by, 10.0, true);
    let mut buyer_lines: Vec<String> = doc.buyer.address.clone();
    buyer_lines.extend(doc.buyer.registration.iter().cloned());
    buyer_lines.extend(
        doc.buyer
            .vat_id
            .iter()
            .map(|v| format!("TVA intracommunautaire : {v}")),
    );
    buyer_lines.extend(doc.buyer.email.iter().cloned());
    for line in &buyer_lines {
        by -= 4.2;
        page.text(line, buyer_x, by, 9.0, false);
    }
    y = by - 10.0;
    page.text(
        &format!("Nature de l'opération : {}", doc.operation_category),
        MARGIN,
        y,
        9.0,
        false,
    );
    if let Some(number) = &doc.stripe_number {
        y -= 4.2;
        page.text(
            &format!("Référence de paiement : {number}"),
            MARGIN,
            y,
            9.0,
            false,
        );
    }
    y -= 9.0;

    let header = |page: &mut Canvas, y: f32| {
        page.text("Désignation", COL_DESCRIPTION, y, 9.0, true);
        page.text("Période", COL_PERIOD_LEFT, y, 9.0, true);
        page.text_right("Qté", COL_QUANTITY_RIGHT, y, 9.0, true);
        page.text_right("PU HT", COL_UNIT_RIGHT, y, 9.0, true);
        page.text_right("TVA", COL_VAT_RIGHT, y, 9.0, true);
        page.text_right("Montant HT", COL_AMOUNT_RIGHT, y, 9.0, true);
        page.rule(MARGIN, right, y - 2.0);
    };
    header(&mut page, y);
    y -= 7.0;

    for line in &doc.lines {
        let description = wrap(
            &line.description,
            9.0,
            COL_PERIOD_LEFT - COL_DESCRIPTION - 3.0,
        );
        let height = 4.2 * description.len().max(2) as f32 + 2.0;
        if y - height < BOTTOM {
            pages.push(std::mem::replace(&mut page, Canvas::new()));
            y = PAGE_HEIGHT - MARGIN - 4.0;
            page.text(
                &format!("Facture {} (suite)", doc.number),
                MARGIN,
                y,
                10.0,
                true,
            );
            y -= 10.0;
            header(&mut page, y);
            y -= 7.0;
        }
        for (i, text) in description.iter().enumerate() {
            page.text(text, COL_DESCRIPTION, y - 4.2 * i as f32, 9.0, false);
        }
        page.text(
            &format!("du {}", date(line.period_start)),
            COL_PERIOD_LEFT,
            y,
            9.0,
            false,
        );
        page.text(
            &format!("au {}", date(line.period_end)),
            COL_PERIOD_LEFT,
            y - 4.2,
            9.0,
            false,
        );
        page.text_right(
            &line.quantity.to_string(),
            COL_QUANTITY_RIGHT,
            y,
            9.0,
            false,
        );
        page.text_right(
            &format_unit_price(line.unit_price_centicents, &doc.currency),
            COL_UNIT_RIGHT,
            y,
            9.0,
            false,
        );
        page.text_right(
            &format_rate(line.vat_rate_basis_points),
            COL_VAT_RIGHT,
            y,
            9.0,
            false,
        );
        page.text_right(
            &format_amount(line.amount_excl_tax, &doc.currency),
            COL_AMOUNT_RIGHT,
            y,
            9.0,
            false,
        );
        y -= height;
    }
    page.rule(MARGIN, right, y + 2.0);

    // Totals and mentions need about this much room; they go on a new page otherwise.
    let mention_lines: Vec<String> = doc
        .mentions
        .iter()
        .flat_map(|m| wrap(m, 8.0, right - MARGIN))
        .collect();
    let needed = 24.0 + 4.0 * mention_lines.len() as f32 + 8.0;
    if y - needed < BOTTOM - 10.0 {
        pages.push(std::mem::replace(&mut page, Canvas::new()));
        y = PAGE_HEIGHT - MARGIN - 4.0;
        page.text(
            &format!("Facture {} (suite)", doc.number),
            MARGIN,
            y,
            10.0,
            true,
        );
        y -= 10.0;
    }
    y -= 4.0;
    let label_right = COL_UNIT_RIGHT + 2.0;
    let vat_label = match doc.vat_treatment {
        VatTreatment::Standard => format!("TVA {}", format_rate(doc.vat_rate_basis_points)),
        VatTreatment::ReverseCharge => "TVA (autoliquidation)".to_string(),
        VatTreatment::OutsideScope => "TVA (non applicable)".to_string(),
    };
    for (label, amount, bold) in [
        ("Total HT".to_string(), doc.total_excl_tax, false),
        (vat_label, doc.vat_amount, false),
        (
            match doc.kind {
                DocumentKind::Invoice => "Total TTC".to_string(),
                DocumentKind::CreditNote => "Total TTC crédité".to_string(),
            },
            doc.total_incl_tax,
            true,
        ),
    ] {
        page.text_right(&label, label_right, y, 10.0, bold);
        page.text_right(
            &format_amount(amount, &doc.currency),
            COL_AMOUNT_RIGHT,
            y,
            10.0,
            bold,
        );
        y -= 5.5;
    }
    y -= 6.0;
    for line in &mention_lines {
        page.text(line, MARGIN, y, 8.0, false);
        y -= 4.0;
    }
    pages.push(page);

    // Footer on each page: number and page count.
    let count = pages.len();
    let pdf_pages = pages
        .into_iter()
        .enumerate()
        .map(|(i, mut page)| {
            page.text_right(
                &format!(
                    "{} {} – page {}/{count}",
                    doc.kind.name(),
                    doc.number,
                    i + 1
                ),
                right,
                12.0,
                8.0,
                false,
            );
            PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), page.ops)
        })
        .collect();
    let mut pdf = PdfDocument::new(&format!("Facture {}", doc.number));
    let mut warnings = Vec::new();
    pdf.with_pages(pdf_pages)
        .save(&PdfSaveOptions::default(), &mut warnings)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn widths_follow_helvetica() {
        // Ten digits are 5.56 em.
        let w = text_width("0123456789", 10.0, false);
        assert!((w - 5.56 * 10.0 / POINTS_PER_MM).abs() < 0.01, "{w}");
        assert!(text_width("é", 10.0, false) == text_width("e", 10.0, false));
        assert!(text_width("W", 10.0, false) > text_width("i", 10.0, false));
    }

    #[test]
    fn long_texts_wrap_within_their_width() {
        let text = "Minutes d'appel incluses dans l'abonnement starter (100 min par mois) et un motsansespacesbeaucouptroplongpourunecolonne";
        let lines = wrap(text, 9.0, 60.0);
        assert!(lines.len() > 2, "{lines:?}");
        for l in &lines {
            assert!(text_width(l, 9.0, false) <= 60.0, "{l}");
        }
        assert_eq!(lines.join(" ").replace(' ', ""), text.replace(' ', ""));
        assert!(wrap("", 9.0, 60.0).is_empty());
    }
}
