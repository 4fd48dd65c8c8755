using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;
using StreamBert.Review.Web;

namespace StreamBert.Review.Tests;

/// <summary>What the desk refuses, over plain HTTP: forms without the antiforgery token, and anyone without the access token.</summary>
public sealed partial class SpamDeskSecurityTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    [Fact]
    public async Task LabelPost_WithoutAntiforgeryToken_Is400AndWritesNothing()
    {
        await using var desk = await RunningDesk.StartAsync(kafka);
        var id = $"msg-{Guid.NewGuid():N}";
        await desk.ProduceAsync(new MessageInput(id, "Lunch?"), new SpamLabel(id, LabelSets.Ham, 0.45f, new ModelRef("spam", "v2")));
        await desk.QueuedAsync(id);
        using var http = new HttpClient { BaseAddress = desk.Address };

        using var form = Form(("id", id), ("label", LabelSets.Spam), ("reviewer", "mallory"));
        using var response = await http.PostAsync("/spam/label", form);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotNull(desk.Queue.Find(id));
        Assert.Empty(desk.ReadLabels(1, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Desk_WithToken_RefusesRequestsWithoutIt_AndLabelsWithIt()
    {
        await using var desk = await RunningDesk.StartAsync(kafka, token: "s3cret-token");
        var id = $"msg-{Guid.NewGuid():N}";
        await desk.ProduceAsync(new MessageInput(id, "Your parcel is waiting, pay 1 EUR customs"), new SpamLabel(id, LabelSets.Ham, 0.49f, new ModelRef("spam", "v7")));
        await desk.QueuedAsync(id);
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        using var http = new HttpClient(handler) { BaseAddress = desk.Address };

        using (var page = await http.GetAsync("/spam"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, page.StatusCode);
        }

        using var forged = Form(("id", id), ("label", LabelSets.Spam), ("reviewer", "mallory"));
        using (var post = await http.PostAsync("/spam/label", forged))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        }

        using (var wrong = await http.GetAsync("/spam?token=guess"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using (var login = await http.GetAsync("/spam?token=s3cret-token&mode=random"))
        {
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
            Assert.Equal("/spam?mode=random", login.Headers.Location!.OriginalString);
        }

        // The cookie from the login now opens the page, and the page's form posts a label.
        var html = await http.GetStringAsync("/spam");
        var antiforgery = AntiforgeryField().Match(html);
        Assert.True(antiforgery.Success, "the page has no antiforgery field");
        using var valid = Form((antiforgery.Groups["name"].Value, WebUtility.HtmlDecode(antiforgery.Groups["value"].Value)), ("id", id), ("label", LabelSets.Spam), ("reviewer", "Grace"));
        using (var post = await http.PostAsync("/spam/label", valid))
        {
            Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        }

        var label = Assert.Single(desk.ReadLabels(1, TimeSpan.FromSeconds(15)));
        Assert.Equal("""{"text":"Your parcel is waiting, pay 1 EUR customs","label":"spam"}""", Encoding.UTF8.GetString(label.Message.Value));
        Assert.Equal("Grace", Encoding.UTF8.GetString(label.Message.Headers.GetLastBytes(LabelHeaders.Reviewer)));
        Assert.Equal("v7", Encoding.UTF8.GetString(label.Message.Headers.GetLastBytes(LabelHeaders.ModelVersion)));

        // A client that is not a browser sends the token as a header instead.
        using var api = new HttpClient { BaseAddress = desk.Address };
        api.DefaultRequestHeaders.Add(AccessToken.HeaderName, "s3cret-token");
        using var withHeader = await api.GetAsync("/spam");
        Assert.Equal(HttpStatusCode.OK, withHeader.StatusCode);
    }

    private static FormUrlEncodedContent Form(params (string Key, string Value)[] fields) =>
        new(fields.Select(f => KeyValuePair.Create(f.Key, f.Value)));

    [GeneratedRegex("""<input type="hidden" name="(?<name>__RequestVerificationToken)" value="(?<value>[^"]+)">""")]
    private static partial Regex AntiforgeryField();
}
