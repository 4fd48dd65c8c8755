namespace StreamBert.Review.Tests;

public sealed class ReviewOptionsTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5080")]
    [InlineData("http://localhost:5080")]
    [InlineData("http://[::1]:5080")]
    [InlineData("http://127.0.0.1:5080;http://[::1]:5080")]
    public void BindingError_LoopbackWithoutToken_IsNone(string urls) =>
        Assert.Null(new ReviewOptions { Urls = urls }.BindingError());

    [Theory]
    [InlineData("http://0.0.0.0:5080")]
    [InlineData("http://*:5080")]
    [InlineData("http://+:5080")]
    [InlineData("http://192.168.1.20:5080")]
    [InlineData("http://127.0.0.1:5080;http://desk.example.com:5080")]
    public void BindingError_OtherAddressWithoutToken_SaysToGiveOne(string urls)
    {
        var error = new ReviewOptions { Urls = urls }.BindingError();

        Assert.NotNull(error);
        Assert.Contains("--token", error, StringComparison.Ordinal);
        Assert.Null(new ReviewOptions { Urls = urls, Token = "secret" }.BindingError());
    }

    [Fact]
    public void BindingError_NotAnHttpAddress_SaysWhich() =>
        Assert.Contains("ftp://x", new ReviewOptions { Urls = "ftp://x", Token = "t" }.BindingError(), StringComparison.Ordinal);
}
