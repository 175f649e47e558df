"""An audit's reports: :mod:`~phoneiqa.audit.reports.tables` (CSV, JSON lines, Parquet),
:mod:`~phoneiqa.audit.reports.html` (one HTML page, its template and script in
:mod:`~phoneiqa.audit.reports.html_assets`) and :mod:`~phoneiqa.audit.reports.xmp` (an XMP sidecar per
photo, its packets in :mod:`~phoneiqa.audit.reports.xmp_packet`; public as :mod:`phoneiqa.xmp`)."""
