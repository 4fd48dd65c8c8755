using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using StreamBert.Contracts;
using StreamBert.Review.Articles;
using StreamBert.Review.Spam;

namespace StreamBert.Review.Web;

/// <summary>
/// The article queue: a list of the articles most useful to review (or a random sample), and one article with its
/// check-worthy sentences and entities highlighted. Per sentence Claim / No claim and Confirm entities; per entity a new type or Delete;
/// a text selection in the article fills the Add entity form (offsets computed by <c>/desk.js</c>).
/// </summary>
internal static class ArticlesPage
{
    public const int ListSize = 20;

    public static string Render(ArticleQueue queue, ArticleItem? current, QueueMode mode, int seed, string reviewer, AntiforgeryTokenSet antiforgery)
    {
        var items = queue.Take(mode, ListSize, seed);
        current ??= items.Count > 0 ? items[0] : null;
        var html = new StringBuilder(8192 + (current?.Body.Length * 8 ?? 0));
        var modeName = mode == QueueMode.Random ? "random" : "useful";
        Html.Page(html, "StreamBert review — articles", "/articles", page =>
        {
            page.Append("<h1>Articles</h1><div class=\"toolbar\"><label>Reviewer <input id=\"reviewer\" name=\"reviewer\" maxlength=\"")
                .Append(ReviewEndpoints.MaxReviewerLength).Append("\" required value=\"").Append(Html.Text(reviewer)).Append("\"></label>")
                .Append("<a href=\"/articles?mode=useful\"").Append(mode == QueueMode.Uncertain ? " class=\"active\"" : string.Empty).Append(">Most useful first</a>")
                .Append("<a href=\"/articles?mode=random&amp;seed=").Append(seed).Append('"').Append(mode == QueueMode.Random ? " class=\"active\"" : string.Empty).Append(">Random sample</a>")
                .Append("<span class=\"meta\" id=\"window\">").Append(queue.Count).Append(" in the window; claim threshold ")
                .Append(Html.Number(queue.Threshold, "0.###")).Append("</span></div>");
            if (items.Count == 0 && current is null)
            {
                page.Append("<p id=\"empty\">Nothing to review yet: the queue fills as the processor labels articles.</p>");
                return;
            }

            page.Append("<ol class=\"queue\">");
            foreach (var item in items)
            {
                page.Append("<li data-id=\"").Append(Html.Text(item.Id)).Append("\"><a href=\"/articles?mode=").Append(modeName).Append("&amp;seed=").Append(seed)
                    .Append("&amp;id=").Append(Uri.EscapeDataString(item.Id)).Append('"').Append(item.Id == current?.Id ? " class=\"active\"" : string.Empty).Append('>')
                    .Append(Html.Text(item.Title ?? item.Id)).Append("</a> <span class=\"meta\">least sure ").Append(Html.Number(queue.Confidence(item), "0.000")).Append("</span></li>");
            }

            page.Append("</ol>");
            if (current is not null)
            {
                Article(page, current, queue, new Hidden(antiforgery, reviewer, modeName, seed));
            }
        });
        return html.ToString();
    }

    private static void Article(StringBuilder page, ArticleItem item, ArticleQueue queue, Hidden hidden)
    {
        page.Append("<article class=\"item article\" data-id=\"").Append(Html.Text(item.Id)).Append("\">")
            .Append("<h2 class=\"title\">").Append(Html.Text(item.Title ?? "(no title)")).Append("</h2>")
            .Append("<div class=\"meta\">id ").Append(Html.Text(item.Id))
            .Append(" · claims <span class=\"claims-model\">").Append(Html.Text(item.ClaimsModel.Name)).Append(' ').Append(Html.Text(item.ClaimsModel.Version)).Append("</span>")
            .Append(" · entities <span class=\"entities-model\">").Append(Html.Text(item.EntitiesModel.Name)).Append(' ').Append(Html.Text(item.EntitiesModel.Version)).Append("</span></div>")
            // A div, not a pre: the HTML parser drops a newline right after <pre>, and the text must be the body exactly.
            .Append("<div class=\"article-body\" id=\"article-body\">");
        ArticleHighlighter.Render(page, item.Body, item.Sentences, item.Entities);
        page.Append("</div>");

        page.Append("<form id=\"add-entity\" class=\"label\" method=\"post\" action=\"/articles/entity\">");
        hidden.Append(page, item.Id);
        page.Append("<input type=\"hidden\" name=\"op\" value=\"add\"><input type=\"hidden\" name=\"start\" value=\"\"><input type=\"hidden\" name=\"end\" value=\"\">")
            .Append("<input type=\"hidden\" name=\"text\" value=\"\">Select words in the article, then: <q id=\"selection-text\"></q> ");
        TypeSelect(page, "PER", "add-type");
        page.Append("<button id=\"add-entity-button\" disabled>Add entity</button></form>");

        page.Append("<h3>Sentences</h3><div class=\"meta keys\">Keys: j / k next / previous sentence, c Claim, n No claim, e Confirm entities.</div><table class=\"sentences\"><tr><th>Sentence</th><th>Model</th><th>Score</th><th>Label</th></tr>");
        foreach (var sentence in item.Sentences.OrderBy(queue.SentenceConfidence))
        {
            var entities = item.EntitiesIn(sentence);

            // "keyed" rows are what the keyboard shortcuts of /desk.js move over; "done" ones are skipped at the start.
            var done = sentence.Reviewed is not null && (sentence.EntitiesReviewed || entities.Count == 0);
            page.Append("<tr class=\"sentence-row keyed").Append(done ? " done" : string.Empty).Append(sentence.EntitiesReviewed ? " entities-reviewed" : string.Empty)
                .Append("\" data-start=\"").Append(Number(sentence.Start)).Append("\" data-end=\"").Append(Number(sentence.End)).Append("\">")
                .Append("<td class=\"text\">").Append(Html.Text(sentence.Text)).Append("</td>")
                .Append("<td class=\"verdict\">").Append(Html.Text(sentence.Label)).Append("</td>")
                .Append("<td class=\"score\">").Append(Html.Number(sentence.Score, "0.000")).Append("</td><td>");
            if (sentence.Reviewed is { } reviewed)
            {
                page.Append("<span class=\"reviewed-label\">").Append(Html.Text(reviewed)).Append("</span> ");
            }

            page.Append("<form class=\"label\" method=\"post\" action=\"/articles/claim\">");
            hidden.Append(page, item.Id);
            page.Append("<input type=\"hidden\" name=\"start\" value=\"").Append(Number(sentence.Start)).Append("\"><input type=\"hidden\" name=\"end\" value=\"").Append(Number(sentence.End)).Append("\">")
                .Append("<button class=\"claim\" name=\"label\" value=\"").Append(LabelSets.Claim).Append("\" data-key=\"c\">Claim</button>")
                .Append("<button class=\"no-claim\" name=\"label\" value=\"").Append(LabelSets.NoClaim).Append("\" data-key=\"n\">No claim</button></form>");

            // The sentence's entities as they are, possibly none, are a label too: without it a correct sentence stays queued.
            page.Append("<form class=\"label\" method=\"post\" action=\"/articles/entity\">");
            hidden.Append(page, item.Id);
            page.Append("<input type=\"hidden\" name=\"start\" value=\"").Append(Number(sentence.Start)).Append("\"><input type=\"hidden\" name=\"end\" value=\"").Append(Number(sentence.End)).Append("\">")
                .Append("<button class=\"confirm-entities\" name=\"op\" value=\"confirm\" data-key=\"e\">Confirm entities (").Append(entities.Count).Append(")</button></form>");
            if (sentence.EntitiesReviewed)
            {
                page.Append(" <span class=\"entities-reviewed-label\">entities reviewed</span>");
            }

            page.Append("</td></tr>");
        }

        page.Append("</table><h3>Entities</h3><table class=\"entities\"><tr><th>Entity</th><th>Type</th><th>Score</th><th>Change</th></tr>");
        foreach (var entity in item.Entities.OrderBy(e => e.Score ?? 2f))
        {
            page.Append("<tr class=\"entity-row\" data-start=\"").Append(Number(entity.Start)).Append("\" data-end=\"").Append(Number(entity.End)).Append("\">")
                .Append("<td class=\"text\">").Append(Html.Text(entity.Text)).Append("</td>")
                .Append("<td class=\"type\">").Append(Html.Text(entity.Type)).Append("</td>")
                .Append("<td class=\"score\">").Append(entity.Score is { } score ? Html.Number(score, "0.000") : "reviewed").Append("</td><td>")
                .Append("<form class=\"label\" method=\"post\" action=\"/articles/entity\">");
            hidden.Append(page, item.Id);
            page.Append("<input type=\"hidden\" name=\"start\" value=\"").Append(Number(entity.Start)).Append("\"><input type=\"hidden\" name=\"end\" value=\"").Append(Number(entity.End)).Append("\">");
            TypeSelect(page, entity.Type, null);
            page.Append("<button class=\"retype\" name=\"op\" value=\"retype\">Change type</button>")
                .Append("<button class=\"delete\" name=\"op\" value=\"delete\">Delete</button></form></td></tr>");
        }

        page.Append("</table></article>");
    }

    private static void TypeSelect(StringBuilder page, string selected, string? id)
    {
        page.Append("<select name=\"type\"").Append(id is null ? string.Empty : $" id=\"{id}\"").Append('>');
        foreach (var type in LabelSets.EntityTypes)
        {
            page.Append("<option").Append(type == selected ? " selected" : string.Empty).Append('>').Append(type).Append("</option>");
        }

        page.Append("</select>");
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The fields every label form carries: antiforgery, article, reviewer, and where to come back to.</summary>
    private sealed record Hidden(AntiforgeryTokenSet Antiforgery, string Reviewer, string Mode, int Seed)
    {
        public void Append(StringBuilder page, string id) =>
            page.Append("<input type=\"hidden\" name=\"").Append(Html.Text(Antiforgery.FormFieldName)).Append("\" value=\"").Append(Html.Text(Antiforgery.RequestToken)).Append("\">")
                .Append("<input type=\"hidden\" name=\"id\" value=\"").Append(Html.Text(id)).Append("\">")
                .Append("<input type=\"hidden\" name=\"reviewer\" value=\"").Append(Html.Text(Reviewer)).Append("\">")
                .Append("<input type=\"hidden\" name=\"mode\" value=\"").Append(Mode).Append("\">")
                .Append("<input type=\"hidden\" name=\"seed\" value=\"").Append(Seed).Append("\">");
    }
}
