using System.Globalization;
using Confluent.Kafka;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using StreamBert.Contracts;
using StreamBert.Review.Articles;
using StreamBert.Review.Spam;

namespace StreamBert.Review.Web;

/// <summary>The articles page and its two label posts (claims; entity edits and confirmations); each post needs the antiforgery token (else 400) and writes one record.</summary>
internal static class ArticleEndpoints
{
    public static void MapArticles(this IEndpointRouteBuilder app)
    {
        app.MapGet("/articles", PageAsync);
        app.MapPost("/articles/claim", ClaimAsync);
        app.MapPost("/articles/entity", EntityAsync);
    }

    private static Task PageAsync(HttpContext context)
    {
        var queue = context.RequestServices.GetRequiredService<ArticleQueue>();
        var (mode, seed) = ReviewEndpoints.Mode(context.Request.Query["mode"], context.Request.Query["seed"]);
        var current = context.Request.Query["id"].ToString() is { Length: > 0 } id ? queue.Find(id) : null;
        var tokens = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        var html = ArticlesPage.Render(queue, current, mode, seed, context.Request.Cookies[ReviewEndpoints.ReviewerCookie] ?? string.Empty, tokens);
        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(html, context.RequestAborted);
    }

    private static async Task ClaimAsync(HttpContext context)
    {
        if (await Read(context).ConfigureAwait(false) is not { } post)
        {
            return;
        }

        var label = post.Form["label"].ToString();
        if (!LabelSets.ClaimLabels.Contains(label, StringComparer.Ordinal))
        {
            await ReviewEndpoints.Problem(context, StatusCodes.Status400BadRequest, $"label must be one of {string.Join(", ", LabelSets.ClaimLabels)}.").ConfigureAwait(false);
            return;
        }

        if (post.Item is { } item && item.Sentences.FirstOrDefault(s => s.Start == post.Start && s.End == post.End) is { } sentence)
        {
            var writer = context.RequestServices.GetRequiredService<ArticleLabelWriter>();
            if (!await Written(context, writer.WriteClaimAsync(item, sentence, label, post.Reviewer, context.RequestAborted)).ConfigureAwait(false))
            {
                return;
            }

            post.Queue.AddClaimLabel(ArticleLabels.SentenceKey(item.Id, sentence), label);
        }

        // An article no longer queued was finished meanwhile (another reviewer, another tab): nothing to write twice.
        Back(context, post);
    }

    private static async Task EntityAsync(HttpContext context)
    {
        if (await Read(context).ConfigureAwait(false) is not { } post)
        {
            return;
        }

        if (post.Item is not { } item)
        {
            Back(context, post);
            return;
        }

        var type = post.Form["type"].ToString();
        var (edit, error) = post.Form["op"].ToString() switch
        {
            "retype" => EntityEdits.Retype(item, post.Start, post.End, type),
            "delete" => EntityEdits.Delete(item, post.Start, post.End),
            "add" => EntityEdits.Add(item, post.Start, post.End, post.Form["text"].ToString(), type),
            "confirm" => EntityEdits.Confirm(item, post.Start, post.End),
            _ => (null, "op must be retype, delete, add or confirm."),
        };
        if (edit is null)
        {
            await ReviewEndpoints.Problem(context, StatusCodes.Status400BadRequest, error!).ConfigureAwait(false);
            return;
        }

        var writer = context.RequestServices.GetRequiredService<ArticleLabelWriter>();
        if (!await Written(context, writer.WriteEntitiesAsync(item, edit, post.Reviewer, context.RequestAborted)).ConfigureAwait(false))
        {
            return;
        }

        post.Queue.AddEntitiesLabel(ArticleLabels.SentenceKey(item.Id, edit.Sentence), ArticleLabels.Entities(edit.Sentence, edit.Entities));
        Back(context, post);
    }

    /// <summary>The checked form of a label post, or null once a refusal is written (antiforgery, reviewer, offsets).</summary>
    private static async Task<Post?> Read(HttpContext context)
    {
        if (!await context.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(context).ConfigureAwait(false))
        {
            await ReviewEndpoints.Problem(context, StatusCodes.Status400BadRequest, "The form's antiforgery token is missing or invalid: reload the page and try again.").ConfigureAwait(false);
            return null;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        if (ReviewEndpoints.Reviewer(context, form) is not { } reviewer)
        {
            await ReviewEndpoints.Problem(context, StatusCodes.Status400BadRequest, ReviewEndpoints.ReviewerProblem).ConfigureAwait(false);
            return null;
        }

        if (!int.TryParse(form["start"], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            || !int.TryParse(form["end"], NumberStyles.None, CultureInfo.InvariantCulture, out var end))
        {
            await ReviewEndpoints.Problem(context, StatusCodes.Status400BadRequest, "start and end must be character offsets: select text in the article first.").ConfigureAwait(false);
            return null;
        }

        var queue = context.RequestServices.GetRequiredService<ArticleQueue>();
        var (mode, seed) = ReviewEndpoints.Mode(form["mode"], form["seed"]);
        return new Post(form, queue, queue.Find(form["id"].ToString()), reviewer, start, end, mode, seed);
    }

    private static async Task<bool> Written(HttpContext context, Task write)
    {
        try
        {
            await write.ConfigureAwait(false);
            return true;
        }
        catch (ProduceException<string, byte[]> ex)
        {
            await ReviewEndpoints.Problem(context, StatusCodes.Status503ServiceUnavailable, "The label was not written to Kafka: " + ex.Error.Reason).ConfigureAwait(false);
            return false;
        }
    }

    private static void Back(HttpContext context, Post post)
    {
        ReviewEndpoints.RememberReviewer(context, post.Reviewer);
        var mode = post.Mode == QueueMode.Random ? $"mode=random&seed={post.Seed}" : "mode=useful";

        // Back to the same article while it has work left; else to the next one in the queue.
        var id = post.Item is { } item && post.Queue.Find(item.Id) is not null ? "&id=" + Uri.EscapeDataString(item.Id) : string.Empty;
        context.Response.Redirect($"/articles?{mode}{id}");
    }

    private sealed record Post(IFormCollection Form, ArticleQueue Queue, ArticleItem? Item, string Reviewer, int Start, int End, QueueMode Mode, int Seed);
}
