from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("checkout/", views.checkout_start, name="checkout"),
    path("checkout/done/", views.checkout_done, name="checkout-done"),
    path("checkout/status/", views.checkout_status, name="checkout-status"),
    path("portal/", views.portal, name="portal"),
    path("account/", views.account, name="account"),
    path("webhook/", views.webhook, name="webhook"),
]
