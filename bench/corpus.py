"""A corpus of real-looking pages, generated deterministically and served on 127.0.0.1.

Run as a process of its own so serving pages never competes with the bench's own Python:

    python -m bench.corpus --port 8765            # serves until SIGTERM

Pages live at /p/NNN.html (NNN = 000 .. PAGES-1). Every page has a shared stylesheet, some
have web fonts (TTF files copied from the system's font folders, served under /fonts/),
generated JPEG/PNG images of varied sizes, and some run JavaScript (a canvas chart and a
table built from inline data, a fetched JSON list, a menu script). Lengths go from one
screen to about thirty. `?v=K` makes the same page a distinct URL (bundles drop duplicate
URLs), gives it its own image URLs (so no browser has them cached from an earlier run)
and adds "vK" to its title, so every capture can be checked against its URL. The shared
assets (stylesheet, logo, script, fonts) are cacheable, as on a real site; /warm.html
loads all of them so every browser starts measuring with the same warm cache.
"""
import argparse
import html
import io
import json
import random
import signal
import sys
import threading
from glob import glob
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PAGES = 120
SEED = 20240611
KINDS = ("article", "landing", "docs", "shop", "dashboard", "gallery", "blog", "form")
SITES = ("Northwind Journal", "Acme Cloud", "Orbit Docs", "Fernhill Market", "Tally Metrics",
         "Lumen Photo", "Quiet Harbour Blog", "Civic Forms")
WORDS = ("system page light river market cloud paper screen render garden signal stone "
         "window harbour engine orbit measure quiet metric design vector layout letter "
         "morning station coffee winter field frame number story camera window pixel "
         "process network forest bridge travel summer market voice table column chart "
         "report season budget anchor canvas detail method result figure sample border "
         "gentle rapid simple modern classic bright silent").split()
# Web fonts: (family used in CSS, candidate files on a Debian system).
FONT_CANDIDATES = (
    ("BenchSerif", ("dejavu/DejaVuSerif.ttf", "liberation/LiberationSerif-Regular.ttf")),
    ("BenchSans", ("liberation/LiberationSans-Regular.ttf", "dejavu/DejaVuSans.ttf")),
    ("BenchNarrow", ("liberation/LiberationSansNarrow-Regular.ttf",
                     "dejavu/DejaVuSansCondensed.ttf")),
    ("BenchMono", ("dejavu/DejaVuSansMono.ttf", "liberation/LiberationMono-Regular.ttf")),
)
FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/TTF", "/usr/share/fonts")

SITE_CSS = """
*{box-sizing:border-box}body{margin:0;font:16px/1.55 sans-serif;color:#1d2330;background:#fafafa}
header.top{display:flex;align-items:center;gap:24px;padding:14px 40px;background:#10213a;color:#fff}
header.top img{height:36px}header.top nav a{color:#cfe0ff;margin-right:18px;text-decoration:none}
main{max-width:1100px;margin:0 auto;padding:24px 40px}h1{font-size:40px;line-height:1.15;margin:.4em 0}
h2{font-size:26px;margin:1.4em 0 .4em}p{margin:.6em 0}figure{margin:18px 0}figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:13px;color:#667}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:18px}
.card{background:#fff;border:1px solid #e3e6ee;border-radius:10px;padding:12px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.card img{width:100%;height:auto;border-radius:6px}.price{font-weight:700;color:#0a7a3b}
pre{background:#0f172a;color:#e2e8f0;padding:14px;border-radius:8px;overflow:auto;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:left}
.hero{position:relative;color:#fff}.hero img{width:100%;display:block}.hero h1{position:absolute;left:40px;bottom:30px;text-shadow:0 2px 8px #000}
aside.side{float:right;width:260px;margin:0 0 16px 24px;padding:12px;background:#eef2fb;border-radius:8px}
form label{display:block;margin:10px 0 4px}form input,form select,form textarea{width:100%;padding:8px;border:1px solid #ccd;border-radius:6px}
footer{margin-top:40px;padding:30px 40px;background:#1f2937;color:#cbd5e1;font-size:14px}
"""
APP_JS = """
(function(){
  var nav=document.querySelector('header.top nav');
  if(nav){['Home','About','Archive','Contact'].forEach(function(t){var a=document.createElement('a');a.href='#'+t.toLowerCase();a.textContent=t;nav.appendChild(a);});}
  document.querySelectorAll('time[data-ts]').forEach(function(el){el.textContent=new Date(+el.dataset.ts).toISOString().slice(0,10);});
  document.querySelectorAll('[data-count]').forEach(function(el){var n=+el.dataset.count,s=0;for(var i=0;i<n*1000;i++){s+=Math.sqrt(i);}el.textContent=(s%997).toFixed(2);});
})();
"""


def _words(rng, count):
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _sentence(rng):
    text = _words(rng, rng.randint(6, 18))
    return text[0].upper() + text[1:] + "."


def _paragraph(rng):
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 7)))


def page_title(index, variant=None):
    rng = random.Random(SEED * 7 + index)
    kind = KINDS[index % len(KINDS)]
    heading = _words(rng, rng.randint(2, 5)).title()
    tag = f"p{index:03d}" + (f" v{variant}" if variant is not None else "")
    return f"{SITES[KINDS.index(kind)]} \u2014 {heading} [{tag}]"


def expected_title(url):
    """The title the page at url must show, or None for URLs outside the corpus."""
    parts = urlsplit(url)
    name = parts.path.rsplit("/", 1)[-1]
    if parts.path == "/warm.html":
        return "warm"
    if not (parts.path.startswith("/p/") and name.endswith(".html")):
        return None
    variant = parse_qs(parts.query).get("v", [None])[0]
    return page_title(int(name[:-5]), variant)


def page_urls(base, count, variant_base=0):
    """count distinct corpus URLs: every page with ?v=variant_base, then with the next
    variant, and so on. A variant has its own image URLs, so no browser has them cached."""
    return [f"{base}/p/{n % PAGES:03d}.html?v={variant_base + n // PAGES}"
            for n in range(count)]


def warm_urls(base, count, tag="w"):
    return [f"{base}/warm.html?{tag}={k}" for k in range(count)]


class Corpus:
    """Every file of the corpus in memory: path -> (content type, bytes, cacheable)."""

    def __init__(self, pages=PAGES):
        self.files = {}
        self.fonts = self._fonts()
        self.files["/static/site.css"] = ("text/css", SITE_CSS.encode(), True)
        self.files["/static/app.js"] = ("application/javascript", APP_JS.encode(), True)
        self.files["/static/logo.png"] = ("image/png", self._logo(), True)
        self.stats = {"pages": 0, "images": 0, "image_bytes": 0, "html_bytes": 0,
                      "with_fonts": 0, "with_js": 0}
        for index in range(pages):
            self._page(index)
        faces = "".join(f"@font-face{{font-family:{family};src:url({src}) format('truetype')}}"
                        f".f-{family}{{font-family:{family}}}" for family, src in self.fonts)
        spans = "".join(f'<p class="f-{family}">{family} warm</p>' for family, _ in self.fonts)
        self.files["/warm.html"] = ("text/html; charset=utf-8", (
            "<!doctype html><html><head><title>warm</title>"
            f'<link rel="stylesheet" href="/static/site.css"><style>{faces}</style>'
            '<script src="/static/app.js" defer></script></head><body>'
            '<header class="top"><img src="/static/logo.png" width="135" height="36" alt="">'
            f"<nav></nav></header><main><h1>Warm-up</h1>{spans}</main></body></html>"
            ).encode(), False)

    def _fonts(self):
        found = []
        for family, candidates in FONT_CANDIDATES:
            for candidate in candidates:
                paths = [p for d in FONT_DIRS for p in glob(f"{d}/{candidate}")]
                if paths:
                    name = Path(paths[0]).name
                    self.files[f"/fonts/{name}"] = ("font/ttf", Path(paths[0]).read_bytes(), True)
                    found.append((family, f"/fonts/{name}"))
                    break
        return found

    @staticmethod
    def _logo():
        from PIL import Image, ImageDraw
        image = Image.new("RGBA", (180, 48), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        draw.rounded_rectangle((0, 4, 40, 44), 8, fill=(255, 196, 0, 255))
        draw.rectangle((52, 14, 170, 34), fill=(230, 238, 255, 255))
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()

    def _image(self, rng, name, width, height, kind):
        from PIL import Image, ImageDraw
        base = tuple(rng.randint(30, 220) for _ in range(3))
        gradient = Image.linear_gradient("L").resize((width, height))
        image = Image.merge("RGB", (
            gradient.point(lambda v, c=base[0]: (c + v // 3) % 256),
            gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM).point(
                lambda v, c=base[1]: (c + v // 4) % 256),
            Image.new("L", (width, height), base[2])))
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randint(3, 12)):
            x, y = rng.randrange(width), rng.randrange(height)
            r = rng.randint(10, max(12, width // 4))
            colour = tuple(rng.randint(0, 255) for _ in range(3))
            if rng.random() < 0.5:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
            else:
                draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
        if kind == "photo":  # grain, so it weighs what a photo weighs
            noise = Image.effect_noise((width, height), 28).convert("RGB")
            image = Image.blend(image, noise, 0.18)
        out = io.BytesIO()
        if kind == "png":
            image.save(out, "PNG", compress_level=6)
            ctype = "image/png"
        else:
            image.save(out, "JPEG", quality=rng.choice((72, 80, 86)))
            ctype = "image/jpeg"
        self.files[name] = (ctype, out.getvalue(), True)
        self.stats["images"] += 1
        self.stats["image_bytes"] += len(out.getvalue())
        return name

    def _img_tag(self, rng, index, k, width, height, kind="photo", css=""):
        ext = "png" if kind == "png" else "jpg"
        src = self._image(rng, f"/img/{index:03d}-{k}.{ext}", width, height, kind)
        alt = html.escape(_words(rng, 3))
        return (f'<img src="{src}{{vq}}" width="{width}" height="{height}" alt="{alt}"'
                f'{" style=" + chr(34) + css + chr(34) if css else ""}>')

    def _page(self, index):
        rng = random.Random(SEED * 7 + index)
        kind = KINDS[index % len(KINDS)]
        heading = _words(rng, rng.randint(2, 5)).title()  # same draws as page_title
        site = SITES[KINDS.index(kind)]
        length = rng.choice((1, 1, 2, 3, 4, 6, 8, 12, 20, 30))  # roughly screens of text
        fonts = rng.sample(self.fonts, k=min(len(self.fonts), rng.choice((0, 0, 1, 1, 2))))
        head, body, scripts = [], [], []
        head.append('<link rel="stylesheet" href="/static/site.css">')
        if fonts:
            faces = "".join(
                f"@font-face{{font-family:{family};src:url({src}) format('truetype');"
                f"font-display:block}}" for family, src in fonts)
            families = [family for family, _ in fonts]
            head.append(f"<style>{faces}h1,h2{{font-family:{families[0]},serif}}"
                        f"main{{font-family:{families[-1]},sans-serif}}</style>")
            self.stats["with_fonts"] += 1
        use_app_js = rng.random() < 0.45
        if use_app_js:
            head.append('<script src="/static/app.js" defer></script>')
        body.append('<header class="top"><img src="/static/logo.png" alt="logo" width="135" '
                    f'height="36"><strong>{html.escape(site)}</strong><nav></nav></header>')
        body.append("<main>")
        k = 0
        if kind == "landing":
            body.append(f'<div class="hero">{self._img_tag(rng, index, k, 1200, 520)}'
                        f"<h1>{html.escape(heading)}</h1></div>")
            k += 1
            body.append('<div class="grid">')
            for _ in range(rng.randint(3, 6)):
                body.append(f'<div class="card">{self._img_tag(rng, index, k, 360, 240, "png")}'
                            f"<h3>{_words(rng, 3).title()}</h3><p>{_sentence(rng)}</p></div>")
                k += 1
            body.append("</div>")
        else:
            body.append(f"<h1>{html.escape(heading)}</h1>")
            body.append(f'<p>Published <time data-ts="{1700000000000 + index * 86400000}">'
                        f"{index}</time> · <span data-count=\"{rng.randint(1, 30)}\">"
                        "…</span></p>")
        if kind == "shop" or kind == "gallery":
            body.append('<div class="grid">')
            for _ in range(rng.randint(8, 24)):
                w = 320 if kind == "shop" else rng.choice((320, 480, 640))
                body.append(f'<div class="card">{self._img_tag(rng, index, k, w, w * 3 // 4)}'
                            f"<p>{_words(rng, 4).title()}</p>"
                            + (f'<p class="price">${rng.randint(3, 400)}.{rng.randint(0, 99):02d}'
                               "</p>" if kind == "shop" else "") + "</div>")
                k += 1
            body.append("</div>")
        if kind == "dashboard" or rng.random() < 0.12:
            series = [round(rng.uniform(10, 100), 1) for _ in range(rng.randint(20, 60))]
            rows = [[_words(rng, 2).title(), rng.randint(1, 9999), round(rng.uniform(0, 1), 3)]
                    for _ in range(rng.randint(20, 150))]
            body.append('<canvas id="chart" width="1000" height="280"></canvas>'
                        '<table id="rows"><thead><tr><th>name</th><th>count</th><th>share</th>'
                        "</tr></thead><tbody></tbody></table>")
            scripts.append(
                "<script>(function(){var s=" + json.dumps(series) + ",r=" + json.dumps(rows) +
                ";var c=document.getElementById('chart').getContext('2d');"
                "c.fillStyle='#eef2fb';c.fillRect(0,0,1000,280);c.strokeStyle='#2563eb';"
                "c.lineWidth=3;c.beginPath();s.forEach(function(v,i){var x=20+i*(960/(s.length-1)),"
                "y=260-v*2.4;i?c.lineTo(x,y):c.moveTo(x,y);});c.stroke();"
                "var tb=document.querySelector('#rows tbody');r.forEach(function(x){var tr="
                "document.createElement('tr');x.forEach(function(v){var td=document.createElement"
                "('td');td.textContent=v;tr.appendChild(td);});tb.appendChild(tr);});})();"
                "</script>")
        if kind == "blog" or rng.random() < 0.1:
            data = [{"title": _words(rng, 4).title(), "summary": _sentence(rng)}
                    for _ in range(rng.randint(5, 20))]
            self.files[f"/data/{index:03d}.json"] = (
                "application/json", json.dumps(data).encode(), False)
            body.append('<section id="feed"><h2>Latest</h2><ul></ul></section>')
            scripts.append(
                f"<script>fetch('/data/{index:03d}.json{{vq}}').then(function(r){{return r.json()}})"
                ".then(function(d){var ul=document.querySelector('#feed ul');d.forEach("
                "function(x){var li=document.createElement('li');li.innerHTML='<b>'+x.title+"
                "'</b> '+x.summary;ul.appendChild(li);});});</script>")
        if kind == "docs":
            body.append('<aside class="side"><h3>On this page</h3><ul>'
                        + "".join(f"<li>{_words(rng, 2)}</li>" for _ in range(rng.randint(4, 12)))
                        + "</ul></aside>")
        if kind == "form":
            body.append("<form>" + "".join(
                f"<label>{_words(rng, 2).title()}</label><input value=\"{_words(rng, 2)}\">"
                for _ in range(rng.randint(4, 10)))
                + "<label>Notes</label><textarea rows=6></textarea></form>")
        for p in range(length * 3):
            if p % 6 == 2:
                body.append(f"<h2>{_words(rng, rng.randint(2, 6)).title()}</h2>")
            if kind == "docs" and p % 5 == 4:
                code = "\n".join(f"{_words(rng, 1)} = {_words(rng, 1)}({rng.randint(0, 99)})"
                                 for _ in range(rng.randint(3, 10)))
                body.append(f"<pre><code>{html.escape(code)}</code></pre>")
            if kind in ("article", "blog") and p % 7 == 3:
                w = rng.choice((640, 800, 1000))
                body.append(f"<figure>{self._img_tag(rng, index, k, w, w * 9 // 16)}"
                            f"<figcaption>{_sentence(rng)}</figcaption></figure>")
                k += 1
            body.append(f"<p>{_paragraph(rng)}</p>")
        body.append("</main>")
        body.append(f"<footer>© {html.escape(site)} · {_sentence(rng)}</footer>")
        if scripts or use_app_js:
            self.stats["with_js"] += 1
        title = page_title(index)
        document = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                    f"<title>{{title}}</title>{''.join(head)}</head><body>{''.join(body)}"
                    f"{''.join(scripts)}</body></html>")
        self.files[f"/p/{index:03d}.html"] = ("text/html; charset=utf-8", document, False)
        self.stats["pages"] += 1
        self.stats["html_bytes"] += len(document.encode())
        assert title == page_title(index)

    def lookup(self, raw_path):
        parts = urlsplit(raw_path)
        entry = self.files.get(parts.path)
        if entry is None:
            return None
        ctype, content, cacheable = entry
        if isinstance(content, str):  # a page: the title depends on ?v=
            index = int(parts.path[3:6])
            variant = parse_qs(parts.query).get("v", [None])[0]
            vq = f"?v={variant}" if variant is not None else ""
            content = (content.replace("{title}", html.escape(page_title(index, variant)), 1)
                       .replace("{vq}", vq).encode())
        return ctype, content, cacheable



# Long pages for full-page captures (bench/fullpage.py), apart from the corpus above: a
# stack of bands of fixed height, each of its own colour, so the pixels at a known offset of
# a picture say which part of the page they show (a repeated or missing slice shows up).
# The lazy page has two images near its bottom that load only when scrolled to: one with
# loading="lazy", one whose src an IntersectionObserver sets.
BAND = 500
LONG_PAGES = {"long-3k": 3000, "long-10k": 10000, "long-25k": 25000, "lazy-6k": 6000}
LAZY_BOX = (40, 180, 600, 260)  # x, y within its band, width, height
LAZY_IMAGES = {"native": (240, 120, 20), "observer": (20, 160, 90)}  # kind -> colour
LONG_CSS = ("html,body{margin:0}body{font:16px/1.5 sans-serif;color:#fff}"
            f".band{{position:relative;height:{BAND}px;overflow:hidden;padding:24px 40px;"
            "box-sizing:border-box}.band p{max-width:640px}"
            f".band img{{position:absolute;left:{LAZY_BOX[0]}px;top:{LAZY_BOX[1]}px}}")
OBSERVE = ("<script>const seen = new IntersectionObserver((entries) => entries.forEach((e) => {"
           "if (e.isIntersecting) { e.target.src = e.target.dataset.src; seen.unobserve(e.target); }"
           "}), {rootMargin: '200px'});"
           "document.querySelectorAll('img[data-src]').forEach((img) => seen.observe(img));"
           "</script>")


def band_colour(index):
    """The colour of band index (0..63): no two closer than 28 in a channel."""
    assert 0 <= index < 64
    return (30 + index % 8 * 28, 30 + index // 8 * 28, 200)


def lazy_bands(name):
    """kind -> the band that holds the lazy image of that kind (the lazy page's last two)."""
    if not name.startswith("lazy"):
        return {}
    last = LONG_PAGES[name] // BAND - 1
    return {"native": last - 1, "observer": last}


class LongPages:
    """The long pages, for CorpusServer: /long/NAME.html?r=K, whose images carry ?r=K too,
    so each capture fetches them afresh."""

    def __init__(self):
        self.images = {}

    def _image(self, kind):
        if kind not in self.images:
            from PIL import Image
            out = io.BytesIO()
            Image.new("RGB", LAZY_BOX[2:], LAZY_IMAGES[kind]).save(out, "PNG")
            self.images[kind] = out.getvalue()
        return self.images[kind]

    def page(self, name, query):
        rng = random.Random(SEED + LONG_PAGES[name])
        lazy = {band: kind for kind, band in lazy_bands(name).items()}
        bands = []
        for index in range(LONG_PAGES[name] // BAND):
            extra = ""
            if index in lazy:
                src = f"/long/img/{lazy[index]}.png{query}"
                width, height = LAZY_BOX[2:]
                extra = (f'<img src="{src}" loading="lazy" width="{width}" height="{height}" alt="">'
                         if lazy[index] == "native" else
                         f'<img data-src="{src}" width="{width}" height="{height}" alt="">')
            bands.append(f'<section class="band" style="background:rgb{band_colour(index)}">'
                         f"<h2>Band {index}: {index * BAND:,}\u2013{(index + 1) * BAND:,} px</h2>"
                         f"<p>{_paragraph(rng)}</p>{extra}</section>")
        script = OBSERVE if lazy else ""
        return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{name}</title><style>{LONG_CSS}</style></head>"
                f"<body>{''.join(bands)}{script}</body></html>").encode()

    def lookup(self, raw_path):
        parts = urlsplit(raw_path)
        query = f"?{parts.query}" if parts.query else ""
        name = parts.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if parts.path == f"/long/{name}.html" and name in LONG_PAGES:
            return "text/html; charset=utf-8", self.page(name, query), False
        if parts.path == f"/long/img/{name}.png" and name in LAZY_IMAGES:
            return "image/png", self._image(name), True
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        found = self.server.corpus.lookup(self.path)
        if found is None:
            body = b"not found"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        ctype, content, cacheable = found
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", "public, max-age=3600" if cacheable else "no-cache")
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args):
        pass


class CorpusServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port, corpus):
        super().__init__(("127.0.0.1", port), _Handler)
        self.corpus = corpus


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pages", type=int, default=PAGES)
    args = parser.parse_args(argv)
    corpus = Corpus(args.pages)
    server = CorpusServer(args.port, corpus)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("READY " + json.dumps({**corpus.stats, "fonts": [f for f, _ in corpus.fonts]}),
          flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
