import pytest

from tests.conftest import screenshot


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_home_page_renders_in_a_real_browser(page, video):
    page.goto("/")

    assert page.locator("h1").inner_text() == "Catalogue"
    assert page.get_by_role("link", name=video.title).is_visible()
    screenshot(page, "smoke-home")
