"""HTML reports: one page per evaluation, per training run, or per comparison of evaluations.

Each page is one `report.html` that needs no network (inline CSS and JS, no CDN; a
Content-Security-Policy forbids any fetch) with its images in `report_files/` beside it.
Images are files rather than data: URIs because a gallery of 10,000 samples would make a
page of hundreds of megabytes, while files load lazily, only for the page of the gallery on
screen, and an image shared by several samples (RefCOCO: ~8 phrases per image; a
comparison: every model) is written once. They are downscaled copies (longest side 640 px);
the boxes are drawn over them in SVG, in original-image pixels, so a gallery can toggle the
ground truth and each model.

- `page`: the page skeleton, escaping, the embedded JSON, the gallery's JavaScript;
- `images`: the downscaled copies in `report_files/`;
- `charts`: line charts as inline SVG;
- `samples`: an evaluation folder read back, scored per sample;
- `evaluation`, `compare`, `training`: the three kinds of page;
- `folders`: which kind a folder is, and writing the page for it.

The modules import the standard library at the top; PIL and the model code load inside
functions, so `vlmr1 --help` stays instant.
"""
