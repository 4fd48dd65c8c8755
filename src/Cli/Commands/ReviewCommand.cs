using System.CommandLine;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using StreamBert.Review;

namespace StreamBert.Cli.Commands;

/// <summary><c>streambert review</c>: the reviewer's desk, a web page that turns corrections into labels.</summary>
internal static class ReviewCommand
{
    public static Command Create()
    {
        // No flag has a default of its own here: one not given leaves its key to appsettings.json and STREAMBERT__.
        var bootstrap = new Option<string?>("--bootstrap") { Description = "Kafka bootstrap servers (Review:BootstrapServers; required here or there)" };
        var port = new Option<int?>("--port") { Description = $"Port on 127.0.0.1 (default {ReviewOptions.DefaultPort}); see --bind and --urls for other addresses" };
        var bind = new Option<string?>("--bind") { Description = "Address to listen on with --port, e.g. 0.0.0.0 (needs --token unless loopback)" };
        var urls = new Option<string?>("--urls") { Description = $"Full listen URLs, ';'-separated (Review:Urls; default http://127.0.0.1:{ReviewOptions.DefaultPort}); any non-loopback one needs --token" };
        var token = new Option<string?>("--token") { Description = "Shared secret every request must carry (Review:Token); open the desk once as /?token=SECRET. Required for non-loopback addresses" };
        var group = new Option<string?>("--group") { Description = "Consumer group id (Review:GroupId; default streambert-review)" };
        var window = new Option<int?>("--window") { Description = "Items the queue holds at most; the surest are dropped first (Review:WindowSize; default 1000)" };
        var registry = new Option<string?>("--registry") { Description = "Model registry the models page shows, promotes and rolls back in (Review:Registry; default Processor:Registry, else ./.streambert/registry)" };
        var threshold = new Option<double?>("--threshold") { Description = "Spam threshold of the served model, the centre of 'uncertain' (Review:SpamThreshold; default 0.5)" };
        var claimThreshold = new Option<double?>("--claim-threshold") { Description = "Claim threshold of the served model, the centre of 'uncertain' on the articles page (Review:ClaimThreshold; default 0.5)" };
        CommandChecks.Between(port, 0, 65535);
        CommandChecks.AtLeast(window, 1);
        var command = new Command("review", "The reviewer's desk: web pages of the spam verdicts and articles the model is least sure of; corrections go to labels.spam, labels.claims and labels.entities with the reviewer's name and the model version")
        {
            bootstrap, port, bind, urls, token, group, window, threshold, claimThreshold, registry,
        };
        command.SetAction(async (result, ct) =>
        {
            var settings = Settings(result.GetValue(bootstrap), result.GetValue(port), result.GetValue(bind), result.GetValue(urls), result.GetValue(token));
            Configured.SetIfGiven(settings, "Review:GroupId", result.GetValue(group));
            Configured.SetIfGiven(settings, "Review:WindowSize", result.GetValue(window));
            Configured.SetIfGiven(settings, "Review:SpamThreshold", result.GetValue(threshold));
            Configured.SetIfGiven(settings, "Review:ClaimThreshold", result.GetValue(claimThreshold));
            Configured.SetIfGiven(settings, "Review:Registry", result.GetValue(registry));
            await using var app = ReviewApp.Build(settings);
            return await ProcessorCommand.RunHostAsync(app, ct, _ => Console.WriteLine($"Reviewer's desk: {app.Address()}spam, {app.Address()}articles and {app.Address()}models"));
        });
        return command;
    }

    internal static Dictionary<string, string?> Settings(string? bootstrap, int? port, string? bind, string? urls, string? token)
    {
        Configured.RequireBootstrap(bootstrap, "Review");
        if (urls is not null && (port is not null || bind is not null))
        {
            throw new UsageException("give either --urls or --bind/--port, not both.");
        }

        var settings = new Dictionary<string, string?>();
        Configured.SetIfGiven(settings, "Review:BootstrapServers", bootstrap);
        Configured.SetIfGiven(settings, "Review:Token", token);
        if (urls is not null)
        {
            settings["Review:Urls"] = urls;
        }
        else if (port is not null || bind is not null)
        {
            var host = bind ?? "127.0.0.1";

            // An IPv6 address needs brackets in a URL.
            var hostPart = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
            settings["Review:Urls"] = string.Create(CultureInfo.InvariantCulture, $"http://{hostPart}:{port ?? ReviewOptions.DefaultPort}");
        }

        // Checked here too, so the refusal is one line before anything starts.
        var effective = new ReviewOptions { Urls = settings.GetValueOrDefault("Review:Urls") ?? Configured.Value("Review:Urls") ?? new ReviewOptions().Urls, Token = token ?? Configured.Value("Review:Token") };
        if (effective.BindingError() is { } error)
        {
            throw new UsageException(error);
        }

        return settings;
    }
}
