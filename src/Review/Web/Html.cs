using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;

namespace StreamBert.Review.Web;

/// <summary>
/// Server-side HTML: every value that came from a topic or a request goes through <see cref="Text"/>, so markup in an
/// email body is shown as characters, never parsed. The page's only script and style are served from the desk itself
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
        foreach (var (path, name) in new[] { ("/spam", "Spam") })
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
        """;

    /// <summary>Copies the reviewer's name into every label form as it is submitted (the server also reads it from the cookie).</summary>
    public const string Script = """
        document.addEventListener('submit', function (event) {
          var name = document.getElementById('reviewer');
          var field = event.target.querySelector('input[name=reviewer]');
          if (name && field) { field.value = name.value; }
        });
        """;
}
