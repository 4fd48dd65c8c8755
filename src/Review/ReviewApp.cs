using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamBert.Review.Articles;
using StreamBert.Review.Models;
using StreamBert.Review.Spam;
using StreamBert.Review.Web;
using StreamBert.Service.Hosting;

namespace StreamBert.Review;

/// <summary>
/// Composes the reviewer's desk: configuration as every StreamBert host reads it (<c>appsettings.json</c>,
/// <c>STREAMBERT__</c>, then <paramref name="overrides"/>), the spam and article feeds and label writers, and the web routes behind
/// the access token.
/// </summary>
public static class ReviewApp
{
    public static WebApplication Build(IEnumerable<KeyValuePair<string, string?>> overrides, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        ServiceHost.AddConfigurationSources(builder.Configuration).AddInMemoryCollection(overrides);
        if (logging is null)
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }
        else
        {
            logging(builder.Logging);
        }

        builder.Services.AddOptions<ReviewOptions>().BindConfiguration(ReviewOptions.Section)
            .PostConfigure<IConfiguration>((o, configuration) =>
            {
                // Topic names as every host reads them (Topics section), where the desk's own keys do not set them.
                o.MessagesTopic = configuration[$"{ReviewOptions.Section}:MessagesTopic"] ?? configuration["Topics:Messages"] ?? o.MessagesTopic;
                o.SpamTopic = configuration[$"{ReviewOptions.Section}:SpamTopic"] ?? configuration["Topics:MessagesSpam"] ?? o.SpamTopic;
                o.LabelsSpamTopic = configuration[$"{ReviewOptions.Section}:LabelsSpamTopic"] ?? configuration["Topics:LabelsSpam"] ?? o.LabelsSpamTopic;
                o.ArticlesTopic = configuration[$"{ReviewOptions.Section}:ArticlesTopic"] ?? configuration["Topics:Articles"] ?? o.ArticlesTopic;
                o.ClaimsTopic = configuration[$"{ReviewOptions.Section}:ClaimsTopic"] ?? configuration["Topics:ArticlesClaims"] ?? o.ClaimsTopic;
                o.EntitiesTopic = configuration[$"{ReviewOptions.Section}:EntitiesTopic"] ?? configuration["Topics:ArticlesEntities"] ?? o.EntitiesTopic;
                o.LabelsClaimsTopic = configuration[$"{ReviewOptions.Section}:LabelsClaimsTopic"] ?? configuration["Topics:LabelsClaims"] ?? o.LabelsClaimsTopic;
                o.LabelsEntitiesTopic = configuration[$"{ReviewOptions.Section}:LabelsEntitiesTopic"] ?? configuration["Topics:LabelsEntities"] ?? o.LabelsEntitiesTopic;
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ReviewOptions>, BindingValidator>();
        builder.Services.AddOptions<KafkaClientSettings>().BindConfiguration("Kafka");

        var options = builder.Configuration.GetSection(ReviewOptions.Section).Get<ReviewOptions>() ?? new ReviewOptions();
        builder.WebHost.UseKestrelCore().UseUrls(options.Urls);
        builder.Services.AddRoutingCore();

        builder.Services.AddDataProtection();
        builder.Services.Configure<KeyManagementOptions>(o => o.XmlRepository = new MemoryKeyRepository());
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "streambert-review-antiforgery";
            o.Cookie.SameSite = Microsoft.AspNetCore.Http.SameSiteMode.Strict;
        });

        builder.Services.AddSingleton(sp => new SpamQueue(sp.GetRequiredService<IOptions<ReviewOptions>>().Value.WindowSize, sp.GetRequiredService<IOptions<ReviewOptions>>().Value.SpamThreshold));
        builder.Services.AddSingleton<SpamLabelWriter>();
        builder.Services.AddHostedService<SpamFeed>();
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ReviewOptions>>().Value;
            return new ArticleQueue(o.WindowSize, o.ArticleWindowBytes, o.ClaimThreshold);
        });
        builder.Services.AddSingleton<ArticleLabelWriter>();
        builder.Services.AddHostedService<ArticleFeed>();
        builder.Services.AddModelsPage();

        var app = builder.Build();
        var token = new AccessToken(options.Token);
        app.Use((context, next) =>
        {
            context.Response.Headers.ContentSecurityPolicy = Html.ContentSecurityPolicy;
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
            return next(context);
        });
        app.Use(next => context => token.InvokeAsync(context, next));
        app.UseRouting();
        app.MapReviewDesk();
        return app;
    }

    /// <summary>The address the desk listens on once started (the OS-chosen port when configured as 0).</summary>
    public static Uri Address(this WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Refuses a non-loopback address without a token, as one line the command line prints.</summary>
    private sealed class BindingValidator : IValidateOptions<ReviewOptions>
    {
        public ValidateOptionsResult Validate(string? name, ReviewOptions options) =>
            options.BindingError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
    }
}
