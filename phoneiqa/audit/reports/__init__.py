"""An audit's reports: :mod:`~phoneiqa.audit.reports.tables` (CSV, JSON lines, Parquet) and
:mod:`~phoneiqa.audit.reports.html` (one HTML page, its template and script in
:mod:`~phoneiqa.audit.reports.html_assets`)."""
