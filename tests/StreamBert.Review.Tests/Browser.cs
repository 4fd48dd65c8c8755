using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace StreamBert.Review.Tests;

/// <summary>
/// A fact that needs Debian's headless Chromium and its chromedriver. Probed when tests are discovered: where either
/// is missing the test shows as skipped with the reason (.ci/run installs both with apt-get).
/// </summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (Browser.Unavailable is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>Headless Chromium driven through the system chromedriver; screenshots go to <c>artifacts/screenshots/</c>.</summary>
internal sealed class Browser : IDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string ChromedriverPath = "/usr/bin/chromedriver";

    private readonly ChromeDriverService _service;

    private Browser(ChromeDriverService service, ChromeDriver driver)
    {
        _service = service;
        Driver = driver;
    }

    public ChromeDriver Driver { get; }

    public static string? Unavailable =>
        !File.Exists(ChromiumPath) ? $"No {ChromiumPath}: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver) to run the browser tests"
        : !File.Exists(ChromedriverPath) ? $"No {ChromedriverPath}: install Debian's chromium-driver (apt-get install chromium-driver) to run the browser tests"
        : null;

    public static Browser Start()
    {
        // The driver path is explicit and Selenium Manager is told it is offline: nothing is downloaded.
        Environment.SetEnvironmentVariable("SE_OFFLINE", "true");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromedriverPath)!, Path.GetFileName(ChromedriverPath));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };

        // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000");
        return new Browser(service, new ChromeDriver(service, options, TimeSpan.FromSeconds(60)));
    }

    /// <summary>
    /// A wait for the page to reach a state. The desk's buttons submit forms, so the page is replaced while a condition
    /// runs: an element found on the old page goes stale under it, which means "not yet", not failure.
    /// </summary>
    public WebDriverWait Wait(TimeSpan timeout)
    {
        var wait = new WebDriverWait(Driver, timeout);
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));
        return wait;
    }

    public void Screenshot(string name)
    {
        var folder = Path.Combine(RepositoryRoot(), "artifacts", "screenshots");
        Directory.CreateDirectory(folder);
        Driver.GetScreenshot().SaveAsFile(Path.Combine(folder, name));
    }

    /// <summary>The folder holding StreamBert.sln, found from the test assembly's folder upwards.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No StreamBert.sln above {AppContext.BaseDirectory}");
    }

    public void Dispose()
    {
        Driver.Quit();
        _service.Dispose();
    }
}
