using System.Net;
using System.Text.RegularExpressions;
using StreamBert.Kafka.Tests;

namespace StreamBert.Review.Tests;

/// <summary>What the models page refuses over plain HTTP: a change without the antiforgery token, or one CURRENT has overtaken.</summary>
public sealed partial class ModelsDeskSecurityTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    [Theory]
    [InlineData("/models/confirm")]
    [InlineData("/models/apply")]
    public async Task ChangePost_WithoutAntiforgeryToken_Is400AndChangesNothing(string path)
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Add("spam", "v2", "v1", 0.93);
        fake.Registry.SetCurrent("spam", "v2");
        await using var desk = await RunningDesk.StartAsync(kafka, registry: fake.Root);
        using var http = new HttpClient { BaseAddress = desk.Address };

        using var form = Form(("action", "rollback"), ("bundle", "spam"), ("version", "v1"), ("from", "v2"), ("reviewer", "mallory"));
        using var response = await http.PostAsync(path, form);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("v2", fake.Registry.CurrentVersion("spam"));
        Assert.Empty(desk.ReadModelEvents(1, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Apply_AfterCurrentMovedSinceConfirmation_Is409AndPublishesNothing()
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Add("spam", "v2", "v1", 0.93);
        fake.Add("spam", "v3", "v2", 0.95);
        fake.Registry.SetCurrent("spam", "v3");
        await using var desk = await RunningDesk.StartAsync(kafka, registry: fake.Root);
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        using var http = new HttpClient(handler) { BaseAddress = desk.Address };
        var html = await http.GetStringAsync("/models");
        var antiforgery = AntiforgeryField().Match(html);
        Assert.True(antiforgery.Success, "the page has no antiforgery field");

        // The reviewer confirmed "v3 → v2"; meanwhile someone else rolled back already.
        fake.Registry.SetCurrent("spam", "v2");
        using var form = Form((antiforgery.Groups["name"].Value, WebUtility.HtmlDecode(antiforgery.Groups["value"].Value)),
            ("action", "rollback"), ("bundle", "spam"), ("version", "v2"), ("from", "v3"), ("reviewer", "Grace"));
        using var response = await http.PostAsync("/models/apply", form);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("v2", fake.Registry.CurrentVersion("spam"));
        Assert.Empty(desk.ReadModelEvents(1, TimeSpan.FromSeconds(2)));
    }

    private static FormUrlEncodedContent Form(params (string Key, string Value)[] fields) =>
        new(fields.Select(f => KeyValuePair.Create(f.Key, f.Value)));

    [GeneratedRegex("""<input type="hidden" name="(?<name>__RequestVerificationToken)" value="(?<value>[^"]+)">""")]
    private static partial Regex AntiforgeryField();
}
