# paysign's workbook writer: reads the order from standard input as JSON lines and writes an
# .xlsx with openpyxl (Debian's python3-openpyxl), in write-only mode so a 100,000-line order
# streams through in bounded memory. Run by `paysign order export --format xlsx`; not a program
# of its own.
#
# Input, one JSON value per line:
#   {"path": OUT, "title": SHEET, "rtl": BOOL, "header": [[LABEL, VALUE, "text"|"number"|"count"], ...],
#    "columns": [6 labels], "total": LABEL}
#   then one array per payment line: [LINE, ID, ID_TYPE, NAME, ACCOUNT, PIASTERS_OR_NULL, AMOUNT_TEXT]
#   then {"end": TOTAL_PIASTERS}
import decimal
import json
import sys

try:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
except ImportError:
    sys.stderr.write("openpyxl-missing\n")
    sys.exit(3)

lines = iter(sys.stdin)
head = json.loads(next(lines))
book = Workbook(write_only=True)
sheet = book.create_sheet(title=head["title"][:31])
sheet.sheet_view.rightToLeft = bool(head["rtl"])
sheet.column_dimensions["A"].width = 8
sheet.column_dimensions["B"].width = 18
sheet.column_dimensions["C"].width = 14
sheet.column_dimensions["D"].width = 40
sheet.column_dimensions["E"].width = 26
sheet.column_dimensions["F"].width = 18
bold = Font(bold=True)
MONEY = "#,##0.00"


def text(value, font=None):
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # IDs and accounts stay text: leading zeros survive
    if font:
        cell.font = font
    return cell


def money(piasters, font=None):
    cell = WriteOnlyCell(sheet, value=decimal.Decimal(piasters).scaleb(-2))
    cell.number_format = MONEY
    if font:
        cell.font = font
    return cell


def integer(value, font=None):
    cell = WriteOnlyCell(sheet, value=int(value))
    if font:
        cell.font = font
    return cell


for label, value, kind in head["header"]:
    if kind == "number":
        sheet.append([text(label, bold), money(value)])
    elif kind == "count":
        sheet.append([text(label, bold), integer(value)])
    else:
        sheet.append([text(label, bold), text(value)])
sheet.append([])
sheet.append([text(label, bold) for label in head["columns"]])

total = None
for raw in lines:
    item = json.loads(raw)
    if isinstance(item, dict):
        total = item["end"]
        break
    number, ident, kind, name, account, piasters, amount_text = item
    amount = money(piasters) if piasters is not None else text(amount_text)
    sheet.append([integer(number), text(ident), text(kind), text(name), text(account), amount])

if total is None:
    sys.stderr.write("the order's lines ended early\n")
    sys.exit(4)
sheet.append([text(head["total"], bold), None, None, None, None, money(total, bold)])
book.save(head["path"])
