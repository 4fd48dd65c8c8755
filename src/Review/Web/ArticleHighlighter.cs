using System.Globalization;
using System.Text;
using StreamBert.Review.Articles;

namespace StreamBert.Review.Web;

/// <summary>
/// The article body as HTML with its sentences and entities marked at their exact UTF-16 offsets. The markup adds
/// elements only, never text: the element's text content is the body, character for character, so the page script maps
/// a selection to offsets by counting the text before it. Sentences are <c>&lt;span class="sentence"&gt;</c>,
/// entities <c>&lt;mark class="entity"&gt;</c> inside them; where spans cross rather than nest (an entity over a sentence
/// boundary), the inner element is closed and reopened, so the result is always well-formed. All text is HTML-encoded.
/// </summary>
internal static class ArticleHighlighter
{
    public static void Render(StringBuilder html, string body, IReadOnlyList<ReviewSentence> sentences, IReadOnlyList<ReviewEntity> entities)
    {
        var cuts = new SortedSet<int> { 0, body.Length };
        foreach (var s in sentences)
        {
            cuts.Add(Math.Clamp(s.Start, 0, body.Length));
            cuts.Add(Math.Clamp(s.End, 0, body.Length));
        }

        foreach (var e in entities)
        {
            cuts.Add(Math.Clamp(e.Start, 0, body.Length));
            cuts.Add(Math.Clamp(e.End, 0, body.Length));
        }

        ReviewSentence? openSentence = null;
        ReviewEntity? openEntity = null;
        var previous = 0;
        foreach (var cut in cuts)
        {
            if (cut == previous)
            {
                continue;
            }

            var sentence = Covering(sentences, previous, cut, s => (s.Start, s.End));
            var entity = Covering(entities, previous, cut, e => (e.Start, e.End));
            if (!ReferenceEquals(sentence, openSentence))
            {
                if (openEntity is not null)
                {
                    html.Append("</mark>");
                    openEntity = null;
                }

                if (openSentence is not null)
                {
                    html.Append("</span>");
                }

                if (sentence is not null)
                {
                    html.Append("<span class=\"sentence ").Append(Html.Text(sentence.Reviewed ?? sentence.Label))
                        .Append(sentence.Reviewed is null ? string.Empty : " reviewed")
                        .Append("\" data-start=\"").Append(Number(sentence.Start)).Append("\" data-end=\"").Append(Number(sentence.End)).Append("\">");
                }

                openSentence = sentence;
            }

            if (!ReferenceEquals(entity, openEntity))
            {
                if (openEntity is not null)
                {
                    html.Append("</mark>");
                }

                if (entity is not null)
                {
                    html.Append("<mark class=\"entity entity-").Append(Html.Text(entity.Type)).Append(entity.Score is null ? " reviewed" : string.Empty)
                        .Append("\" title=\"").Append(Html.Text(entity.Type)).Append("\" data-start=\"").Append(Number(entity.Start))
                        .Append("\" data-end=\"").Append(Number(entity.End)).Append("\">");
                }

                openEntity = entity;
            }

            html.Append(Html.Text(body[previous..cut]));
            previous = cut;
        }

        if (openEntity is not null)
        {
            html.Append("</mark>");
        }

        if (openSentence is not null)
        {
            html.Append("</span>");
        }
    }

    /// <summary>The first span covering all of <c>[start, end)</c> (a piece between cuts is inside a span or outside it, never both).</summary>
    private static T? Covering<T>(IReadOnlyList<T> spans, int start, int end, Func<T, (int Start, int End)> range)
        where T : class
    {
        foreach (var span in spans)
        {
            var (s, e) = range(span);
            if (s <= start && end <= e)
            {
                return span;
            }
        }

        return null;
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
