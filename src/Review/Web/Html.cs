using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;

namespace StreamBert.Review.Web;

/// <summary>
/// Server-side HTML: every value that came from a topic or a request goes through <see cref="Text"/>, so markup in an
/// email body or article is shown as characters, never parsed. The page's only script and style are served from the desk itself
/// (<c>/desk.js</c>, <c>/desk.css</c>) under a Content-Security-Policy without inline script, so even a missed
/// encoding could not run anything.
/// </summary>
internal static class Html
{
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static string Text(string? value) => HtmlEncoder.Default.Encode(value ?? string.Empty);

    public static string Number(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    public static void Page(StringBuilder html, string title, string active, Action<StringBuilder> body)
    {
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(Text(title))
            .Append("</title><link rel=\"stylesheet\" href=\"/desk.css\"><script src=\"/desk.js\" defer></script></head><body><nav>")
            .Append("<strong>StreamBert review</strong>");
        foreach (var (path, name) in new[] { ("/spam", "Spam"), ("/articles", "Articles"), ("/models", "Models") })
        {
            html.Append("<a href=\"").Append(path).Append('"').Append(path == active ? " class=\"active\"" : string.Empty).Append('>').Append(name).Append("</a>");
        }

        html.Append("</nav><main>");
        body(html);
        html.Append("</main></body></html>");
    }

    public const string Stylesheet = """
        body { font-family: system-ui, sans-serif; margin: 0; background: #f6f6f4; color: #222; }
        nav { background: #223; color: #fff; padding: .6rem 1rem; display: flex; gap: 1rem; align-items: baseline; }
        nav a { color: #cde; } nav a.active { color: #fff; font-weight: bold; }
        main { padding: 1rem; max-width: 60rem; }
        .toolbar { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin-bottom: 1rem; }
        .item { background: #fff; border: 1px solid #ccc; border-radius: 6px; padding: .8rem; margin-bottom: .8rem; }
        .meta { color: #555; font-size: .9rem; }
        .verdict-spam { color: #a00; font-weight: bold; } .verdict-ham { color: #070; font-weight: bold; }
        pre.body { white-space: pre-wrap; word-break: break-word; background: #fafafa; border: 1px solid #eee; padding: .5rem; max-height: 20rem; overflow: auto; }
        form.label { display: inline; } button { margin-right: .5rem; }
        .article-body { white-space: pre-wrap; word-break: break-word; background: #fff; border: 1px solid #ddd; padding: .8rem; line-height: 1.7; }
        .sentence.claim { background: #fff1b8; } .sentence.reviewed { outline: 1px dashed #888; }
        mark.entity { background: #cfe3ff; border-bottom: 2px solid #36c; padding: 0 1px; }
        mark.entity-PER { background: #d8f5d0; border-color: #393; } mark.entity-LOC { background: #cfe3ff; border-color: #36c; }
        mark.entity-ORG { background: #f5d9f0; border-color: #a3a; } mark.entity-MISC { background: #eee; border-color: #777; }
        mark.entity.reviewed { border-bottom-style: double; }
        table { border-collapse: collapse; margin: .5rem 0 1rem; } td, th { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
        ol.queue a.active { font-weight: bold; } #selection-text { font-weight: bold; }
        .keyed.current { outline: 2px solid #36c; outline-offset: 2px; } .entities-reviewed-label { color: #555; font-size: .9rem; }
        """;

    /// <summary>
    /// Copies the reviewer's name into every label form as it is submitted (the server also reads it from the cookie),
    /// and turns a text selection in the article into the Add entity form's offsets: the UTF-16 length of the text
    /// before the selection (the highlighting adds elements, never text, so that is the body offset) and of the selection.
    /// Keyboard shortcuts: j / k move a current item over the page's <c>.keyed</c> elements (a spam message, a sentence
    /// row; it starts at the first not <c>.done</c>), and a letter clicks the current item's button whose
    /// <c>data-key</c> it is, the same POST the mouse sends. Keys typed into a field, or with a modifier, are left alone.
    /// </summary>
    public const string Script = """
        document.addEventListener('submit', function (event) {
          var name = document.getElementById('reviewer');
          var field = event.target.querySelector('input[name=reviewer]');
          if (name && field) { field.value = name.value; }
        });
        document.addEventListener('selectionchange', function () {
          var body = document.getElementById('article-body');
          var form = document.getElementById('add-entity');
          var selection = document.getSelection();
          if (!body || !form || !selection || selection.rangeCount === 0 || selection.isCollapsed) { return; }
          var range = selection.getRangeAt(0);
          if (!body.contains(range.startContainer) || !body.contains(range.endContainer)) { return; }
          var before = document.createRange();
          before.setStart(body, 0);
          before.setEnd(range.startContainer, range.startOffset);
          var start = before.toString().length;
          var text = range.toString();
          form.elements.start.value = String(start);
          form.elements.end.value = String(start + text.length);
          form.elements.text.value = text;
          document.getElementById('selection-text').textContent = text;
          document.getElementById('add-entity-button').disabled = false;
        });
        document.addEventListener('DOMContentLoaded', function () {
          var first = document.querySelector('.keyed:not(.done)') || document.querySelector('.keyed');
          if (first) { first.classList.add('current'); }
        });
        document.addEventListener('keydown', function (event) {
          if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
          var target = event.target;
          if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) { return; }
          var items = Array.prototype.slice.call(document.querySelectorAll('.keyed'));
          var current = document.querySelector('.keyed.current');
          if (!current) { return; }
          if (event.key === 'j' || event.key === 'k') {
            var next = items[items.indexOf(current) + (event.key === 'j' ? 1 : -1)];
            if (next) {
              current.classList.remove('current');
              next.classList.add('current');
              next.scrollIntoView({ block: 'nearest' });
            }
            event.preventDefault();
            return;
          }
          if (!/^[a-z]$/.test(event.key)) { return; }
          var button = current.querySelector('button[data-key="' + event.key + '"]');
          if (button) {
            event.preventDefault();
            button.click();
          }
        });
        """;
}
