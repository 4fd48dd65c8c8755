using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using StreamBert.Contracts;
using StreamBert.Review.Spam;

namespace StreamBert.Review.Web;

/// <summary>The spam queue: the messages the model is least sure of (or a random sample), each with Confirm and Flip.</summary>
internal static class SpamPage
{
    public const int PageSize = 20;

    public static string Render(SpamQueue queue, QueueMode mode, int seed, string reviewer, AntiforgeryTokenSet antiforgery)
    {
        var items = queue.Take(mode, PageSize, seed);
        var html = new StringBuilder(4096 + (items.Count * 2048));
        Html.Page(html, "StreamBert review — spam", "/spam", page =>
        {
            page.Append("<h1>Spam</h1><div class=\"toolbar\"><label>Reviewer <input id=\"reviewer\" name=\"reviewer\" maxlength=\"")
                .Append(ReviewEndpoints.MaxReviewerLength).Append("\" required value=\"").Append(Html.Text(reviewer)).Append("\"></label>")
                .Append("<a href=\"/spam?mode=uncertain\"").Append(mode == QueueMode.Uncertain ? " class=\"active\"" : string.Empty).Append(">Uncertain first</a>")
                .Append("<a href=\"/spam?mode=random&amp;seed=").Append(seed).Append('"').Append(mode == QueueMode.Random ? " class=\"active\"" : string.Empty).Append(">Random sample</a>")
                .Append("<span class=\"meta\" id=\"window\">").Append(queue.Count).Append(" in the window; threshold ")
                .Append(Html.Number(queue.Threshold, "0.###")).Append("</span></div>");
            if (items.Count > 0)
            {
                page.Append("<div class=\"meta keys\">Keys: j / k next / previous message, c Confirm, f Flip.</div>");
            }
            else
            {
                page.Append("<p id=\"empty\">Nothing to review yet: the queue fills as the processor labels messages.</p>");
            }

            foreach (var item in items)
            {
                var flipped = item.Verdict == LabelSets.Spam ? LabelSets.Ham : LabelSets.Spam;
                page.Append("<article class=\"item keyed\" data-id=\"").Append(Html.Text(item.Id)).Append("\">")
                    .Append("<h2 class=\"subject\">").Append(Html.Text(item.Subject ?? "(no subject)")).Append("</h2>")
                    .Append("<div class=\"meta\">From <span class=\"from\">").Append(Html.Text(item.From ?? "(unknown)")).Append("</span> · id ").Append(Html.Text(item.Id)).Append("</div>")
                    .Append("<div class=\"meta\">Model says <span class=\"verdict verdict-").Append(Html.Text(item.Verdict)).Append("\">").Append(Html.Text(item.Verdict)).Append("</span>")
                    .Append(" · score <span class=\"score\">").Append(Html.Number(item.Score, "0.000")).Append("</span>")
                    .Append(" · model <span class=\"model\">").Append(Html.Text(item.ModelName)).Append(' ').Append(Html.Text(item.ModelVersion)).Append("</span></div>")
                    .Append("<pre class=\"body\">").Append(Html.Text(item.Body)).Append("</pre>")
                    .Append("<form class=\"label\" method=\"post\" action=\"/spam/label\">")
                    .Append("<input type=\"hidden\" name=\"").Append(Html.Text(antiforgery.FormFieldName)).Append("\" value=\"").Append(Html.Text(antiforgery.RequestToken)).Append("\">")
                    .Append("<input type=\"hidden\" name=\"id\" value=\"").Append(Html.Text(item.Id)).Append("\">")
                    .Append("<input type=\"hidden\" name=\"reviewer\" value=\"").Append(Html.Text(reviewer)).Append("\">")
                    .Append("<input type=\"hidden\" name=\"mode\" value=\"").Append(mode == QueueMode.Random ? "random" : "uncertain").Append("\">")
                    .Append("<input type=\"hidden\" name=\"seed\" value=\"").Append(seed).Append("\">")
                    .Append("<button class=\"confirm\" name=\"label\" value=\"").Append(Html.Text(item.Verdict)).Append("\" data-key=\"c\">Confirm ").Append(Html.Text(item.Verdict)).Append("</button>")
                    .Append("<button class=\"flip\" name=\"label\" value=\"").Append(flipped).Append("\" data-key=\"f\">Flip to ").Append(flipped).Append("</button>")
                    .Append("</form></article>");
            }
        });
        return html.ToString();
    }
}
